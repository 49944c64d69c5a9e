// Command otds-highspot keeps Highspot in step with OpenText Directory
// Services: extract → transform → pull → plan → apply, one run id at a time.
// See README.md and docs/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A closed stdout or stderr (apply --dry-run | head) must not kill the
	// process with its locks held: with SIGPIPE caught, writes fail with
	// EPIPE and the command ends through its normal path, releasing them.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if err := artifact.ArrowPoolSetting(os.Getenv("OTDS_HIGHSPOT_ARROW_POOL")); err != nil {
		fmt.Fprintf(os.Stderr, "otds-highspot: %v\n", err)
	}
	stopProfile := profileCPU(os.Getenv("OTDS_HIGHSPOT_CPUPROFILE"))
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	stopProfile()
	profileAllocs(os.Getenv("OTDS_HIGHSPOT_MEMPROFILE"))
	os.Exit(code)
}

// profileCPU writes a CPU profile of the whole command to path (for `go tool
// pprof`; `make bench-nightly` sets it per stage with NIGHTLY_PROFILE). An
// empty path, or one that cannot be created, profiles nothing: a profile is a
// diagnostic and never fails the command.
func profileCPU(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f := createProfile("OTDS_HIGHSPOT_CPUPROFILE", path)
	if f == nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		profileWarning("OTDS_HIGHSPOT_CPUPROFILE", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// profileAllocs writes the allocation profile of the whole command to path
// when it ends (`go tool pprof -sample_index=alloc_space`: what allocated the
// bytes the garbage collector had to chase; inuse_space is the heap at the
// end). Like profileCPU, an empty or unwritable path writes nothing and never
// fails the command.
func profileAllocs(path string) {
	if path == "" {
		return
	}
	f := createProfile("OTDS_HIGHSPOT_MEMPROFILE", path)
	if f == nil {
		return
	}
	defer f.Close()
	runtime.GC() // the in-use figures are as of the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintf(os.Stderr, "otds-highspot: OTDS_HIGHSPOT_MEMPROFILE: %v (the profile is incomplete)\n", err)
	}
}

// createProfile creates the profile file named by env var name, or warns and
// returns nil when it cannot.
func createProfile(name, path string) *os.File {
	f, err := os.Create(path)
	if err != nil {
		profileWarning(name, err)
		return nil
	}
	return f
}

func profileWarning(name string, err error) {
	fmt.Fprintf(os.Stderr, "otds-highspot: %s: %v (no profile written; set it to a file in a writable directory)\n", name, err)
}
