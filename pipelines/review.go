package pipelines

import (
	"context"
	"fmt"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/review"
)

// Review publishes the access review of --run-id or the latest run (stage
// "review": access_review, review.html, review.csv). A run's review is
// write-once: a second call prints where the first one is.
func (a *App) Review(ctx context.Context) error {
	runID, err := a.latestRunID(ctx)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	return a.tracked(ctx, runID, []string{string(contract.Review)}, nil, func(ctx context.Context) error {
		if m, ok, err := a.published(ctx, runID, contract.Review); err != nil || ok {
			if ok {
				a.skipPublished(runID, contract.Review, m)
				fmt.Fprintf(a.Stdout, "  report    %s\n", a.Store.URL(m.Blobs["review.html"].Key))
			}
			return err
		}
		res, err := review.Run(ctx, a.Env(runID))
		if err != nil {
			a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Review), Status: "failed", Error: err.Error()})
			return err
		}
		grants := map[string]int{}
		for _, r := range res.Rows {
			if r.Group != "" {
				grants[r.Grant]++
			}
		}
		a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Review), Status: "published", Manifest: a.Store.URL(res.Ref.Key),
			Rows:    map[string]int64{"access_review": int64(len(res.Rows))},
			Details: map[string]any{"users": res.Users, "grants": grants, "pull_run_id": res.PullRun, "plan_run_id": res.PlanRun, "report": a.Store.URL(res.Manifest.Blobs["review.html"].Key)}})
		fmt.Fprintf(a.Stdout, "review: %d Highspot users (pull of run %s), %d group holdings: %d granted by policy, %d drift, %d manual\n  report    %s\n  csv       %s\n",
			res.Users, res.PullRun, grants["policy"]+grants["drift"]+grants["manual"], grants["policy"], grants["drift"], grants["manual"],
			a.Store.URL(res.Manifest.Blobs["review.html"].Key), a.Store.URL(res.Manifest.Blobs["review.csv"].Key))
		return nil
	})
}
