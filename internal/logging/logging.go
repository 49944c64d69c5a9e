// Package logging builds the injected logrus logger: JSON when the output is
// not a terminal (cron, Airflow, Kubernetes), text on a terminal. Library code
// receives a logrus.FieldLogger and never touches the global logger.
package logging

import (
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/term"
)

// Options selects the format and level.
type Options struct {
	Format string // "", "text" or "json"; "" = text on a TTY, JSON otherwise
	Level  string // debug, info (default), warn, error
	Out    io.Writer
}

// New returns a logger writing to opts.Out (os.Stderr when nil).
func New(opts Options) (*logrus.Logger, error) {
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	l := logrus.New()
	l.SetOutput(out)
	format := opts.Format
	if format == "" {
		format = "json"
		if IsTerminal(out) {
			format = "text"
		}
	}
	switch format {
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: "2006-01-02T15:04:05.000Z07:00"})
	case "text":
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "15:04:05"})
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", opts.Format)
	}
	lvl := logrus.InfoLevel
	if opts.Level != "" {
		var err error
		if lvl, err = logrus.ParseLevel(opts.Level); err != nil {
			return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", opts.Level)
		}
	}
	l.SetLevel(lvl)
	return l, nil
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
