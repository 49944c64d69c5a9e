package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestShippedPipelineFilesUseRealCommands checks that every otds-highspot
// command line in pipelines/airflow, pipelines/cron and pipelines/k8s names a
// command that exists, with flags that command accepts.
func TestShippedPipelineFilesUseRealCommands(t *testing.T) {
	root := newRootCommand(&globalOptions{})
	var lines [][]string

	// Airflow: every cli("a", "b", ...) call plus the global argv list.
	dag := read(t, "../../pipelines/airflow/otds_highspot_dag.py")
	lit := regexp.MustCompile(`"([^"]*)"`)
	for _, m := range regexp.MustCompile(`cli\(([^)]*)\)`).FindAllStringSubmatch(dag, -1) {
		var args []string
		call, _, _ := strings.Cut(m[1], "run_id=") // keyword arguments are not CLI words
		for _, l := range lit.FindAllStringSubmatch(call, -1) {
			args = append(args, l[1])
		}
		if len(args) > 0 {
			lines = append(lines, args)
		}
	}
	if g := regexp.MustCompile(`argv = \[BIN, ([^\]]*)\]`).FindStringSubmatch(dag); g != nil {
		var args []string
		for _, l := range lit.FindAllStringSubmatch(g[1], -1) {
			args = append(args, l[1])
		}
		lines = append(lines, append([]string{"run"}, args...))
	} else {
		t.Error("airflow DAG: global argv list not found")
	}
	for _, f := range []string{`"--run-id"`, `"--plan-sha256"`} {
		if !strings.Contains(dag, f) {
			t.Errorf("airflow DAG no longer uses %s; update this test", f)
		}
	}
	lines = append(lines, []string{"apply", "--run-id", "x", "--plan-sha256", "y"})

	// cron and systemd: the words after the binary, up to a redirection.
	bin := regexp.MustCompile(`/otds-highspot ([^>\n]*)`)
	for _, f := range []string{"../../pipelines/cron/crontab", "../../pipelines/cron/otds-highspot.service"} {
		for _, m := range bin.FindAllStringSubmatch(read(t, f), -1) {
			lines = append(lines, strings.Fields(m[1]))
		}
	}
	// Kubernetes: the container's args list.
	for _, m := range regexp.MustCompile(`args: (\[.*\])`).FindAllStringSubmatch(read(t, "../../pipelines/k8s/cronjob.yaml"), -1) {
		var args []string
		if err := json.Unmarshal([]byte(m[1]), &args); err != nil {
			t.Fatalf("k8s args %s: %v", m[1], err)
		}
		lines = append(lines, args)
	}
	if len(lines) < 10 {
		t.Fatalf("found only %d command lines in the pipeline files; the parser is broken", len(lines))
	}
	for _, args := range lines {
		checkCommandLine(t, root, args)
	}
}

func checkCommandLine(t *testing.T, root *cobra.Command, args []string) {
	t.Helper()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%q: no such command (%v)", strings.Join(args, " "), err)
		return
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := cmd.Flags().Lookup(name)
		if f == nil {
			f = cmd.InheritedFlags().Lookup(name)
		}
		if f == nil {
			t.Errorf("%q: command %q has no flag --%s", strings.Join(args, " "), cmd.CommandPath(), name)
			continue
		}
		if f.Value.Type() != "bool" && !hasValue {
			i++ // skip the flag's value
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
