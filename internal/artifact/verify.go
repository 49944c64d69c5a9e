package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/otds-highspot/otds-highspot/internal/store"
)

// VerifyReport is the outcome of Verify. Problems are plain sentences; an
// empty list means every file and every chain link checked out.
type VerifyReport struct {
	RunID      string   `json:"run_id"`
	Manifests  int      `json:"manifests"`   // manifests of the run that were read
	Files      int      `json:"files"`       // data files and blobs re-hashed
	Bytes      int64    `json:"bytes"`       // bytes re-hashed
	ChainLinks int      `json:"chain_links"` // previous/input/stage links checked
	Problems   []string `json:"problems"`
}

// OK reports whether no problem was found.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify re-hashes every file listed by every manifest of the run, checks
// byte counts, checks that the run manifest's stage references and every
// stage's input references match the stored manifests, and walks each
// `previous` chain back to its start (each referenced manifest's sha256 must
// match the stored bytes). It returns an error only when the check itself
// could not run (no such run, store unreachable); what is wrong with the
// artifacts is in the report.
func Verify(ctx context.Context, st store.Store, runID string) (VerifyReport, error) {
	rep := VerifyReport{RunID: runID, Problems: []string{}}
	if err := ValidateRunID(runID); err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	keys, err := listManifests(ctx, st, runID)
	if err != nil {
		return rep, fmt.Errorf("verify run %s: %w", runID, err)
	}
	if len(keys) == 0 {
		return rep, fmt.Errorf("verify run %s: no manifests under %s: %w", runID, st.URL("_runs/"+runID+"/"), ErrNotPublished)
	}
	// Run events are append-only records, not chained: each must at least
	// be a readable event of this run.
	if _, bad, err := ReadRunEvents(ctx, st, runID); err != nil {
		return rep, fmt.Errorf("verify run %s: %w", runID, err)
	} else if bad > 0 {
		rep.problem("%d run events under %s cannot be read as events of this run", bad, st.URL(EventsPrefix(runID)))
	}
	checked := map[string]bool{} // manifest key + sha already verified as a link
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		data, _, err := readKey(ctx, st, k.key)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				rep.problem("manifest %s disappeared while verifying", st.URL(k.key))
				continue
			}
			return rep, fmt.Errorf("verify run %s: %w", runID, err)
		}
		rep.Manifests++
		if k.stage == "run" {
			rm, err := decodeRunManifest(data)
			if err != nil {
				rep.problem("run manifest %s cannot be read: %v", st.URL(k.key), err)
				continue
			}
			for _, r := range rm.Stages {
				if err := checkLink(ctx, st, &rep, r, "listed by the run manifest", checked); err != nil {
					return rep, err
				}
			}
			if err := walkChain(ctx, st, &rep, rm.Previous, k.key, checked); err != nil {
				return rep, err
			}
			continue
		}
		m, err := decodeManifest(data)
		if err != nil {
			rep.problem("manifest %s cannot be read: %v", st.URL(k.key), err)
			continue
		}
		if m.RunID != runID || m.Stage != k.stage {
			rep.problem("manifest %s names stage %s of run %s instead of stage %s of run %s", st.URL(k.key), m.Stage, m.RunID, k.stage, runID)
		}
		tables := make([]string, 0, len(m.Tables))
		for n := range m.Tables {
			tables = append(tables, n)
		}
		sort.Strings(tables)
		for _, n := range tables {
			te := m.Tables[n]
			var rows int64
			for _, f := range te.Files {
				rows += f.Rows
				if err := checkFile(ctx, st, &rep, f, fmt.Sprintf("table %s of stage %s", n, m.Stage)); err != nil {
					return rep, err
				}
			}
			if rows != te.Rows {
				rep.problem("table %s of stage %s says %d rows but its files add up to %d", n, m.Stage, te.Rows, rows)
			}
		}
		blobs := make([]string, 0, len(m.Blobs))
		for n := range m.Blobs {
			blobs = append(blobs, n)
		}
		sort.Strings(blobs)
		for _, n := range blobs {
			if err := checkFile(ctx, st, &rep, m.Blobs[n], fmt.Sprintf("blob %s of stage %s", n, m.Stage)); err != nil {
				return rep, err
			}
		}
		for _, in := range m.Inputs {
			if err := checkLink(ctx, st, &rep, in, string("read as input by stage "+m.Stage), checked); err != nil {
				return rep, err
			}
		}
		if err := walkChain(ctx, st, &rep, m.Previous, k.key, checked); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// checkFile re-hashes one listed file.
func checkFile(ctx context.Context, st store.Store, rep *VerifyReport, f FileEntry, what string) error {
	rc, err := st.Get(ctx, f.Key)
	if errors.Is(err, store.ErrNotFound) {
		rep.problem("file %s (%s) is missing", st.URL(f.Key), what)
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", st.URL(f.Key), err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("verify %s: read: %w", st.URL(f.Key), err)
	}
	rep.Files++
	rep.Bytes += n
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case n != f.Bytes:
		rep.problem("file %s (%s) is %d bytes, the manifest recorded %d: it was changed after publishing", st.URL(f.Key), what, n, f.Bytes)
	case sum != f.SHA256:
		rep.problem("file %s (%s) has changed content: sha256 is %s, the manifest recorded %s", st.URL(f.Key), what, sum, f.SHA256)
	}
	return nil
}

// checkLink checks that a referenced manifest still has the recorded hash.
// It returns the manifest's bytes when they could be read.
func checkLink(ctx context.Context, st store.Store, rep *VerifyReport, r Ref, why string, checked map[string]bool) error {
	_, err := linkData(ctx, st, rep, r, why, checked)
	return err
}

func linkData(ctx context.Context, st store.Store, rep *VerifyReport, r Ref, why string, checked map[string]bool) ([]byte, error) {
	rep.ChainLinks++
	data, sum, err := readKey(ctx, st, r.Key)
	if errors.Is(err, store.ErrNotFound) {
		rep.problem("manifest %s (%s of run %s, %s) is missing: the chain is broken", st.URL(r.Key), r.Stage, r.RunID, why)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify link %s: %w", st.URL(r.Key), err)
	}
	id := r.Key + "@" + r.SHA256
	if sum != r.SHA256 && !checked[id] {
		rep.problem("manifest %s (%s of run %s, %s) was changed after it was referenced: sha256 is %s, the reference recorded %s", st.URL(r.Key), r.Stage, r.RunID, why, sum, r.SHA256)
	}
	checked[id] = true
	return data, nil
}

// walkChain follows `previous` links from a manifest back to the first one.
func walkChain(ctx context.Context, st store.Store, rep *VerifyReport, prev *Ref, from string, checked map[string]bool) error {
	seen := map[string]bool{from: true}
	for prev != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seen[prev.Key] {
			rep.problem("manifest chain loops back to %s", st.URL(prev.Key))
			return nil
		}
		seen[prev.Key] = true
		data, err := linkData(ctx, st, rep, *prev, "previous of "+from, checked)
		if err != nil || data == nil {
			return err
		}
		next := prev
		prev = nil
		if next.Stage == "run" {
			rm, err := decodeRunManifest(data)
			if err != nil {
				rep.problem("run manifest %s in the chain cannot be read: %v", st.URL(next.Key), err)
				return nil
			}
			prev = rm.Previous
		} else {
			m, err := decodeManifest(data)
			if err != nil {
				rep.problem("manifest %s in the chain cannot be read: %v", st.URL(next.Key), err)
				return nil
			}
			prev = m.Previous
		}
		from = next.Key
	}
	return nil
}
