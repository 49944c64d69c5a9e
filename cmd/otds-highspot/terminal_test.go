package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/fixtures"
)

// TestTerminalOutputIntegration runs the built program in a real terminal
// (tmux) and reads the screen: during extract the status line shows real
// per-tree entry counts (before: "acme 0 beta 0 gamma 0 entries"); during
// apply a progress bar is drawn (before: none appeared); no status line ever
// shares a row with a log line; each stage logs one line at info (before:
// "stage starting" plus two "published" lines per stage). Skipped without tmux.
func TestTerminalOutputIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("terminal test skipped in -short mode")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (apt-get install tmux)")
	}
	dir := t.TempDir()
	bin := builtBinary(t)
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(demo), "url: ./artifacts", "url: "+filepath.Join(dir, "artifacts"), 1)
	// A slow apply (45 changes at 8 requests/s), so the bar is on screen long
	// enough to be seen.
	cfg = strings.Replace(cfg, "rate_per_second: 50", "rate_per_second: 8", 1)
	if !strings.Contains(cfg, "rate_per_second: 8") {
		t.Fatal("could not slow the demo configuration down")
	}
	cfgPath := writeFile(t, dir, "config.yaml", cfg)

	session := "otdshs-term-" + strings.ReplaceAll(filepath.Base(dir), "/", "")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", session}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", session, "-x", "500", "-y", "200", "bash", "--norc", "--noprofile")
	defer exec.Command("tmux", "-L", session, "kill-server").Run()
	tmux("send-keys", "-t", session, bin+" --config "+cfgPath+" --log-format text --run-id 20261101T000000Z-0001 run; echo EXIT=$?", "Enter")

	var screen string
	sawBar := false
	bar := regexp.MustCompile(`apply \[[= >]+\] \d+/45 +\d+%`)
	deadline := time.Now().Add(2 * time.Minute)
	exited := regexp.MustCompile(`(?m)^EXIT=\d+`)
	for !exited.MatchString(screen) {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish in the terminal; screen:\n%s", screen)
		}
		time.Sleep(100 * time.Millisecond)
		screen = tmux("capture-pane", "-p", "-t", session, "-S", "-200")
		sawBar = sawBar || bar.MatchString(screen)
	}
	if !regexp.MustCompile(`(?m)^EXIT=0$`).MatchString(screen) {
		t.Fatalf("run failed in the terminal:\n%s", screen)
	}
	if !sawBar {
		t.Errorf("no apply progress bar was seen on the terminal during apply; final screen:\n%s", screen)
	}
	counts := regexp.MustCompile(`extract:  acme (\d+)  beta (\d+)  gamma (\d+) entries read`).FindStringSubmatch(screen)
	if counts == nil {
		t.Fatalf("no extract status line with per-tree counts:\n%s", screen)
	}
	for i, tree := range []string{"acme", "beta", "gamma"} {
		if counts[i+1] == "0" {
			t.Errorf("extract status line: %s read 0 entries: %q", tree, counts[0])
		}
	}
	published := map[string]int{}
	for _, line := range strings.Split(screen, "\n") {
		if (strings.Contains(line, "extract:  ") || bar.MatchString(line)) && strings.Contains(line, "level=") {
			t.Errorf("a status line shares a row with a log line: %q", line)
		}
		if strings.Contains(line, "stage starting") {
			t.Errorf("stage starting logged at info: %q", line)
		}
		if m := regexp.MustCompile(`msg="stage published".* stage=(\S+)`).FindStringSubmatch(line); m != nil {
			published[m[1]]++
		}
		for _, dup := range []string{"tree published", "transform: published", "pull: published", "ldif read complete"} {
			if strings.Contains(line, dup) {
				t.Errorf("a step logged twice at info (%q): %q", dup, line)
			}
		}
	}
	for _, st := range []string{"extract.acme", "transform", "pull", "plan", "apply"} {
		if published[st] != 1 {
			t.Errorf("stage %s: %d 'stage published' lines, want 1", st, published[st])
		}
	}
	_ = os.Remove(bin)
}
