package pipelines

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/logging"
)

// statusLine is one self-redrawing line at the bottom of a terminal (the
// apply bar, the extract counts). While it is shown, the logger writes
// through it: the line is erased, the log line written, the line redrawn, so
// a status line and log lines never interleave on one row.
type statusLine struct {
	mu   sync.Mutex
	w    io.Writer
	line string
}

const eraseLine = "\r\x1b[K"

// Write writes log output above the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line != "" {
		_, _ = io.WriteString(s.w, eraseLine)
	}
	n, err := s.w.Write(p)
	if s.line != "" {
		_, _ = io.WriteString(s.w, s.line)
	}
	return n, err
}

func (s *statusLine) set(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = line
	_, _ = io.WriteString(s.w, eraseLine+line)
}

// done leaves the last state on its own row (keep) or erases it.
func (s *statusLine) done(keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line == "" {
		return
	}
	if keep {
		_, _ = io.WriteString(s.w, "\n")
	} else {
		_, _ = io.WriteString(s.w, eraseLine)
	}
	s.line = ""
}

// status starts a status line on stderr when stderr is a terminal and routes
// the logger through it; restore puts the logger back. nil when stderr is not
// a terminal (cron, Airflow and Kubernetes get plain logs instead).
func (a *App) status() (s *statusLine, restore func()) {
	if a.Stderr == nil || !logging.IsTerminal(a.Stderr) {
		return nil, func() {}
	}
	s = &statusLine{w: a.Stderr}
	if a.Log != nil && a.Log.Out == a.Stderr {
		a.Log.SetOutput(s)
		return s, func() { a.Log.SetOutput(a.Stderr) }
	}
	return s, func() {}
}

// progress returns a callback drawing a progress bar on stderr when stderr
// is a terminal ("apply [=======>      ] 120/450  26%"), and nil otherwise;
// end erases the bar (the stage prints its summary line) and must be called
// when the stage returns, finished or not.
func (a *App) progress(what string) (update func(done, total int), end func()) {
	s, restore := a.status()
	if s == nil {
		return nil, func() {}
	}
	var (
		mu   sync.Mutex
		last time.Time
		once sync.Once
	)
	end = func() {
		once.Do(func() {
			s.done(false)
			restore()
		})
	}
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 100*time.Millisecond && done > 0 && done < total {
			return
		}
		last = time.Now()
		s.set(renderBar(what, done, total, 30))
	}, end
}

// renderBar renders "what [=====>    ] done/total  pct%".
func renderBar(what string, done, total, width int) string {
	if total <= 0 {
		total = 1
	}
	done = min(max(done, 0), total)
	fill := done * width / total
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	return fmt.Sprintf("%s [%s] %d/%d %3d%%", what, bar, done, total, done*100/total)
}

// treeProgress returns a callback that keeps one status line on a terminal
// with the entries read so far per tree ("extract: acme 12000  beta 8000
// entries"), and nil when stderr is not a terminal. finish ends the line
// (it stays, with the final counts).
func (a *App) treeProgress(trees []string) (update func(tree string, entries int64), finish func()) {
	s, restore := a.status()
	if s == nil {
		return nil, func() {}
	}
	var (
		mu     sync.Mutex
		counts = map[string]int64{}
		last   time.Time
	)
	render := func() string {
		var b strings.Builder
		b.WriteString("extract:")
		for _, t := range trees {
			fmt.Fprintf(&b, "  %s %d", t, counts[t])
		}
		b.WriteString(" entries read")
		return b.String()
	}
	update = func(tree string, n int64) {
		mu.Lock()
		defer mu.Unlock()
		counts[tree] = n
		if time.Since(last) >= 200*time.Millisecond {
			last = time.Now()
			s.set(render())
		}
	}
	finish = func() {
		mu.Lock()
		defer mu.Unlock()
		if len(counts) > 0 {
			s.set(render())
		}
		s.done(true)
		restore()
	}
	return update, finish
}
