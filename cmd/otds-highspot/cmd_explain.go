package main

import "github.com/spf13/cobra"

func newExplainCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "explain EMAIL|PERSON_ID|DN",
		Short: "Tell how a person was resolved: accounts, match rules and keys, attribute sources, groups",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := opts.app(cmd.Context(), "explain")
			if err != nil {
				return err
			}
			return a.Explain(cmd.Context(), args[0])
		},
	}
}
