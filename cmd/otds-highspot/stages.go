package main

import "github.com/spf13/cobra"

// stageCommands returns the pipeline commands (extract, transform, pull, plan,
// apply, run, runs, doctor, explain, sandbox, prune).
func stageCommands(opts *globalOptions) []*cobra.Command {
	return nil
}
