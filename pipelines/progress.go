package pipelines

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/otds-highspot/otds-highspot/internal/logging"
)

// progress returns a callback drawing a progress bar on stderr when stderr
// is a terminal, and nil otherwise (cron, Airflow and Kubernetes get quiet
// JSON logs instead).
func (a *App) progress(what string) func(done, total int) {
	if a.Stderr == nil || !logging.IsTerminal(a.Stderr) {
		return nil
	}
	return newBar(a.Stderr, what)
}

func newBar(w io.Writer, what string) func(done, total int) {
	var (
		mu  sync.Mutex
		bar *progressbar.ProgressBar
	)
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
				progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100_000_000),
				progressbar.OptionClearOnFinish())
		}
		_ = bar.Set(done)
		if done >= total {
			_ = bar.Finish()
		}
	}
}

// treeProgress returns a callback that keeps one status line on a terminal
// with the entries read so far per tree ("extract: acme 12000  beta 8000"),
// and nil when stderr is not a terminal. finish ends the line.
func (a *App) treeProgress(trees []string) (update func(tree string, entries int64), finish func()) {
	if a.Stderr == nil || !logging.IsTerminal(a.Stderr) {
		return nil, func() {}
	}
	var (
		mu     sync.Mutex
		counts = map[string]int64{}
		last   time.Time
		drawn  bool
	)
	draw := func() {
		var b strings.Builder
		b.WriteString("\rextract:")
		for _, t := range trees {
			fmt.Fprintf(&b, "  %s %d", t, counts[t])
		}
		b.WriteString(" entries ")
		_, _ = io.WriteString(a.Stderr, b.String())
		drawn = true
	}
	update = func(tree string, n int64) {
		mu.Lock()
		defer mu.Unlock()
		counts[tree] = n
		if time.Since(last) >= 200*time.Millisecond {
			last = time.Now()
			draw()
		}
	}
	finish = func() {
		mu.Lock()
		defer mu.Unlock()
		if drawn {
			draw()
			_, _ = io.WriteString(a.Stderr, "\n")
		}
	}
	return update, finish
}
