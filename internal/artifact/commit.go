package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// commitRecordFormat is the Format of a commit record.
const commitRecordFormat = "otds-highspot/commit-record/v1"

// commitRecord is what a stage attempt is about to publish, stored in its
// staging area before any part reaches a table prefix, so that a commit cut
// short (crash, store outage) can be finished by the next attempt.
type commitRecord struct {
	Format   string         `json:"format"`
	RunID    string         `json:"run_id"`
	Stage    contract.Stage `json:"stage"`
	Attempt  string         `json:"attempt"`
	Manifest string         `json:"manifest"` // the exact manifest bytes to write
	Parts    []stagedPart   `json:"parts"`
}

// stagedPart is one part file: where the attempt uploaded it and where it is
// published.
type stagedPart struct {
	Staged string `json:"staged"`
	Final  string `json:"final"`
	Bytes  int64  `json:"bytes"`
}

func commitRecordKey(runID, attempt string) string {
	return StagingPrefix(runID) + attempt + "/commit.json"
}

func putCommitRecord(ctx context.Context, st store.Store, rec commitRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode commit record: %w", err)
	}
	key := commitRecordKey(rec.RunID, rec.Attempt)
	if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("write commit record %s: %w", st.URL(key), err)
	}
	return nil
}

// finishCommit copies every staged part into place (a part already there
// with the recorded size was copied by an earlier try), writes the manifest
// and removes the staging files. It is idempotent: running it again after a
// crash at any point finishes the same commit.
func finishCommit(ctx context.Context, st store.Store, log logrus.FieldLogger, rec commitRecord, check func(string)) (Ref, error) {
	for _, p := range rec.Parts {
		if err := ctx.Err(); err != nil {
			return Ref{}, err
		}
		err := store.Copy(ctx, st, p.Staged, p.Final)
		if errors.Is(err, store.ErrExists) {
			info, serr := st.Stat(ctx, p.Final)
			if serr != nil {
				return Ref{}, fmt.Errorf("publish part %s: %w", st.URL(p.Final), serr)
			}
			if info.Size != p.Bytes {
				return Ref{}, fmt.Errorf("publish part %s: a different object (%d bytes, want %d) is already there; run `runs verify`", st.URL(p.Final), info.Size, p.Bytes)
			}
			err = nil
		}
		if err != nil {
			return Ref{}, fmt.Errorf("publish part %s: %w", st.URL(p.Final), err)
		}
		if check != nil {
			check(string(rec.Stage + ":copied"))
		}
	}
	data := []byte(rec.Manifest)
	mkey := ManifestKey(rec.RunID, rec.Stage)
	if err := st.Put(ctx, mkey, bytes.NewReader(data), int64(len(data))); err != nil {
		if !errors.Is(err, store.ErrExists) {
			return Ref{}, fmt.Errorf("write manifest %s: %w", st.URL(mkey), err)
		}
		// Written by an earlier try of this same commit, or by another attempt.
		got, _, rerr := readKey(ctx, st, mkey)
		if rerr != nil {
			return Ref{}, fmt.Errorf("write manifest %s: %w", st.URL(mkey), rerr)
		}
		if !bytes.Equal(got, data) {
			return Ref{}, fmt.Errorf("commit: %w", alreadyPublished(rec.Stage, rec.RunID))
		}
	}
	sum := sha256.Sum256(data)
	ref := Ref{Stage: rec.Stage, RunID: rec.RunID, Key: mkey, SHA256: hex.EncodeToString(sum[:])}
	removeStaged(ctx, st, log, rec)
	return ref, nil
}

// removeStaged deletes an attempt's staging files, the commit record last.
// What cannot be removed now (an outage, a retention rule) is left for prune.
func removeStaged(ctx context.Context, st store.Store, log logrus.FieldLogger, rec commitRecord) {
	for _, p := range rec.Parts {
		if err := st.Delete(ctx, p.Staged); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.WithError(err).WithField("key", p.Staged).Warn("commit: staging file not removed (prune removes it later)")
		}
	}
	if err := st.Delete(ctx, commitRecordKey(rec.RunID, rec.Attempt)); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.WithError(err).Warn("commit: commit record not removed (prune removes it later)")
	}
}

// RollForward finishes the commits of env.RunID for the stages match
// accepts (nil: every stage) that were cut short after their commit record
// was stored (a crash or an outage while parts were being copied into
// place), so that no part sits in a table prefix without a manifest listing
// it. It returns the stages it published. A stage's commit, and the
// pipeline before deciding whether a stage is already published, call it
// for that stage only: the stage lock keeps a live attempt of the same stage
// away, while other stages of the run may be committing at that moment.
func RollForward(ctx context.Context, env Env, match func(stage contract.Stage) bool) ([]Ref, error) {
	st := env.Store
	if st == nil || ValidateRunID(env.RunID) != nil {
		return nil, nil
	}
	prefix := StagingPrefix(env.RunID)
	infos, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("roll forward: list %s: %w", st.URL(prefix), err)
	}
	log := loggerOf(env.Log)
	var out []Ref
	for _, in := range infos {
		if !strings.HasSuffix(in.Key, "/commit.json") || strings.Count(strings.TrimPrefix(in.Key, prefix), "/") != 1 {
			continue
		}
		data, _, err := readKey(ctx, st, in.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue // finished meanwhile
		}
		if err != nil {
			return out, fmt.Errorf("roll forward: %w", err)
		}
		var rec commitRecord
		if err := json.Unmarshal(data, &rec); err != nil || rec.Format != commitRecordFormat || rec.RunID != env.RunID {
			return out, fmt.Errorf("roll forward: %s is not a commit record of run %s", st.URL(in.Key), env.RunID)
		}
		if match != nil && !match(rec.Stage) {
			continue
		}
		if _, _, err := readKey(ctx, st, ManifestKey(rec.RunID, rec.Stage)); err == nil {
			// Published: by this commit (every part was in place before
			// the manifest; only the cleanup was cut short), or by another
			// attempt (nothing of this one reached a table prefix, as every
			// commit first rolls its stage's earlier ones forward). Either
			// way the staging files are garbage.
			removeStaged(ctx, st, log, rec)
			continue
		}
		ref, err := finishCommit(ctx, st, log, rec, nil)
		if err != nil {
			return out, fmt.Errorf("roll forward the commit of stage %s (attempt %s): %w", rec.Stage, rec.Attempt, err)
		}
		log.WithFields(logrus.Fields{"run_id": rec.RunID, "stage": rec.Stage, "attempt": rec.Attempt}).Warn("finished a commit that an earlier attempt left half done")
		out = append(out, ref)
	}
	return out, nil
}

// PendingCommits lists the staging folders (_staging/<run>/<attempt>/) of
// run's commits cut short: a commit record whose manifest is not written.
// RollForward finishes them; prune keeps them.
func PendingCommits(ctx context.Context, st store.Store, runID string) (map[string]bool, error) {
	prefix := StagingPrefix(runID)
	infos, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", st.URL(prefix), err)
	}
	out := map[string]bool{}
	for _, in := range infos {
		rest := strings.TrimPrefix(in.Key, prefix)
		attempt, file, ok := strings.Cut(rest, "/")
		if !ok || file != "commit.json" {
			continue
		}
		data, _, err := readKey(ctx, st, in.Key)
		if err != nil {
			return nil, err
		}
		var rec commitRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("%s is not a commit record: %w", st.URL(in.Key), err)
		}
		if _, err := st.Stat(ctx, ManifestKey(runID, rec.Stage)); errors.Is(err, store.ErrNotFound) {
			out[prefix+attempt+"/"] = true
		} else if err != nil {
			return nil, err
		}
	}
	return out, nil
}
