package pipelines

import (
	"context"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

func testApp(t *testing.T) (*App, store.Store) {
	t.Helper()
	dir := t.TempDir()
	a, err := NewApp(context.Background(), AppOptions{Getenv: func(k string) string {
		if k == EnvStore {
			return dir
		}
		return ""
	}, LogLevel: "error", Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	return a, a.Store
}

// TestWithLockReleasesOnPanic: a panic inside a stage unwinds through the
// lock's release (main turns it into exit 1), leaving no lock behind.
func TestWithLockReleasesOnPanic(t *testing.T) {
	a, st := testApp(t)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the stage's panic", r)
			}
		}()
		_ = a.withLock(context.Background(), "20261105T000000Z-pani", []string{string(contract.Apply)}, func(ctx context.Context) error {
			if _, err := st.Stat(ctx, "_locks/20261105T000000Z-pani/apply.lock"); err != nil {
				t.Errorf("inside withLock: the stage lock is missing: %v", err)
			}
			panic("boom")
		})
	}()
	infos, err := st.List(context.Background(), "_locks/")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Errorf("locks left after a panic: %d objects, first %s", len(infos), infos[0].Key)
	}
}
