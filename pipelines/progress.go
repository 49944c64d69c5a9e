package pipelines

import (
	"io"
	"sync"

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
