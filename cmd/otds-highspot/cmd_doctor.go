package main

import "github.com/spf13/cobra"

func newDoctorCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check every tree, the store and Highspot with the configured credentials, in plain words",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.appWith(cmd.Context(), "doctor", true)
			if err != nil {
				return err
			}
			return a.Doctor(cmd.Context())
		},
	}
}
