package pipelines

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/otds-highspot/otds-highspot/fixtures"
)

// openPath opens a file the configuration names (an LDIF export, a seed file):
//
//	fixtures:otds/trees.ldif   the embedded fixture data
//	store:exports/acme.ldif    an object in the artifact store
//	/abs/path or rel/path      a local file (relative to the config file's folder)
func (a *App) openPath(ctx context.Context, path string) (io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(path, "fixtures:"):
		f, err := fixtures.FS().Open(strings.TrimPrefix(path, "fixtures:"))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w (the embedded fixtures hold otds/trees.ldif, otds/day2/trees.ldif, highspot/seed.json)", path, err)
		}
		return f, nil
	case strings.HasPrefix(path, "store:"):
		rc, err := a.Store.Get(ctx, strings.TrimPrefix(path, "store:"))
		if err != nil {
			return nil, fmt.Errorf("open %s in store %s: %w", path, a.Store.URL(""), err)
		}
		return rc, nil
	}
	if !filepath.IsAbs(path) && a.Cfg.Path != "" && !a.Embedded {
		path = filepath.Join(filepath.Dir(a.Cfg.Path), path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}
