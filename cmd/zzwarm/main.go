package main

import (
	_ "cel.dev/cel-go/cel"
	_ "github.com/apache/arrow-go/v18/parquet/pqarrow"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/go-ldap/ldap/v3"
	_ "github.com/johannesboyne/gofakes3"
	_ "github.com/sirupsen/logrus"
	_ "github.com/spf13/cobra"
	_ "github.com/xitongsys/parquet-go-source/local"
	_ "github.com/xitongsys/parquet-go/reader"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/text/unicode/norm"
	_ "golang.org/x/time/rate"
)

func main() {}
