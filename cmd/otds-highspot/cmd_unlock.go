package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newUnlockCommand(opts *globalOptions) *cobra.Command {
	var o pipelines.UnlockOptions
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove run locks left by dead processes (--force: any lock); each removal is recorded",
		Long: `Unlock lists the run lock and the stage locks in the store and removes those
whose holder is dead: its pid is gone from this host, or it wrote no heartbeat
for store.lock_stale_after. --force removes live locks too: use it only when
you know the holder is gone (its machine was lost). --run-id limits it to one
run. Each removal is recorded as an "unlock" event under _runs/<run_id>/events/
(who, from which host, which lock and whose). Exit 11 when live locks remain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "unlock")
			if err != nil {
				return err
			}
			return a.Unlock(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "remove live locks too (the holder may still be writing)")
	return cmd
}
