package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newVersionCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the program version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(opts.out(), version)
			opts.summary = &pipelines.Summary{Command: "version", Details: map[string]any{"version": version}}
			return nil
		},
	}
}
