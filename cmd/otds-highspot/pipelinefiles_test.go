package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// TestShippedPipelineFilesUseRealCommands checks that every otds-highspot
// command line in deploy/airflow, deploy/cron and deploy/k8s names a
// command that exists, with flags that command accepts.
func TestShippedPipelineFilesUseRealCommands(t *testing.T) {
	root := newRootCommand(&globalOptions{})
	var lines [][]string

	// Airflow: every cli("a", "b", ...) call plus the global argv list.
	dag := read(t, "../../deploy/airflow/otds_highspot_dag.py")
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
	for _, f := range []string{"../../deploy/cron/crontab", "../../deploy/cron/otds-highspot.service"} {
		for _, m := range bin.FindAllStringSubmatch(read(t, f), -1) {
			lines = append(lines, strings.Fields(m[1]))
		}
	}
	// Kubernetes: the container's args list.
	for _, m := range regexp.MustCompile(`args: (\[.*\])`).FindAllStringSubmatch(read(t, "../../deploy/k8s/cronjob.yaml"), -1) {
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

// TestShippedSchedulersNeverRetryAuth: the shipped schedulers retry only
// exit 3 and never exit 7 (auth: a retry could lock the service account),
// and systemd caps its restarts.
func TestShippedSchedulersNeverRetryAuth(t *testing.T) {
	auth, transient := strconv.Itoa(exitcode.Auth), strconv.Itoa(exitcode.Transient)

	// Airflow: the codes compared before `raise AirflowException` (retried).
	dag := read(t, "../../deploy/airflow/otds_highspot_dag.py")
	consts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+) = (\d+)\b`).FindAllStringSubmatch(dag, -1) {
		consts[m[1]] = m[2]
	}
	retried := regexp.MustCompile(`if proc\.returncode == (\w+):\n\s+raise AirflowException\(`).FindAllStringSubmatch(dag, -1)
	if len(retried) != 1 || consts[retried[0][1]] != transient {
		t.Errorf("airflow DAG: retried codes %v (constants %v), want exactly %s", retried, consts, transient)
	}
	if !regexp.MustCompile(`if proc\.returncode == (\w+):\n\s+raise AirflowFailException\(`).MatchString(dag) || consts["AUTH"] != auth {
		t.Errorf("airflow DAG: no explicit AirflowFailException for AUTH = %s", auth)
	}

	// systemd: 7 prevents a restart, only 3 forces one, restarts are capped.
	unit := read(t, "../../deploy/cron/otds-highspot.service")
	kv := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)=(.*)$`).FindAllStringSubmatch(unit, -1) {
		kv[m[1]] = strings.Fields(m[2])
	}
	if !slices.Contains(kv["RestartPreventExitStatus"], auth) {
		t.Errorf("systemd unit: RestartPreventExitStatus=%v lacks %s", kv["RestartPreventExitStatus"], auth)
	}
	if f := kv["RestartForceExitStatus"]; len(f) != 1 || f[0] != transient {
		t.Errorf("systemd unit: RestartForceExitStatus=%v, want only %s", f, transient)
	}
	if r := kv["Restart"]; len(r) != 1 || r[0] != "no" {
		t.Errorf("systemd unit: Restart=%v, want no (only RestartForceExitStatus restarts)", r)
	}
	if len(kv["StartLimitBurst"]) != 1 || len(kv["StartLimitIntervalSec"]) != 1 || !strings.Contains(unit[:strings.Index(unit, "[Service]")], "StartLimitBurst") {
		t.Errorf("systemd unit: restarts not capped (StartLimitBurst and StartLimitIntervalSec in [Unit])")
	}

	// Kubernetes: the first FailJob rule that matches exit 7 comes before any retry.
	k8s := read(t, "../../deploy/k8s/cronjob.yaml")
	rules := regexp.MustCompile(`action: (\w+)\n\s+onExitCodes: \{containerName: sync, operator: (In|NotIn), values: \[([\d, ]*)\]\}`).FindAllStringSubmatch(k8s, -1)
	if len(rules) == 0 {
		t.Fatal("k8s cronjob: no podFailurePolicy exit-code rules found")
	}
	for _, code := range []string{auth, "1", "2", "4", "5", "6", "11"} {
		for _, r := range rules {
			in := slices.Contains(strings.Split(strings.ReplaceAll(r[3], " ", ""), ","), code)
			if (r[2] == "In") == in {
				if r[1] != "FailJob" {
					t.Errorf("k8s cronjob: exit %s matches a %s rule first, want FailJob", code, r[1])
				}
				break
			}
		}
	}
	for _, r := range rules {
		if r[1] == "FailJob" && r[2] == "NotIn" && !strings.Contains(r[3], transient) {
			t.Errorf("k8s cronjob: the catch-all FailJob rule does not spare exit %s", transient)
		}
	}
}
