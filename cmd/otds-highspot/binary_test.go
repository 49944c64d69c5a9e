package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// builtBinary builds cmd/otds-highspot once per test process, for the tests
// that need real processes (signals, SIGKILL, a closed pipe, a terminal).
func builtBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "otds-highspot-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "otds-highspot")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
