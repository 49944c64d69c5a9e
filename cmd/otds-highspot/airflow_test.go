package main

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// airflow3Names are the import locations the DAG may use: names that exist
// in Airflow 3.x (airflow.sdk is the Task SDK of 3.0+; the HITL operators
// came with the standard provider for 3.1 and are imported under a guard).
// Airflow cannot be installed here, so this list is the contract.
var airflow3Names = map[string][]string{
	"airflow.sdk":        {"DAG", "Param", "PokeReturnValue", "TaskGroup", "Variable", "chain", "dag", "get_current_context", "task", "task_group"},
	"airflow.exceptions": {"AirflowException", "AirflowFailException", "AirflowSkipException"},
	"airflow.providers.standard.operators.hitl": {"ApprovalOperator", "HITLOperator"},
}

// TestAirflowDAGImportsAirflow3Names: the DAG imports only names that exist
// in Airflow 3 (before: airflow.decorators, airflow.sensors.python and
// Variable.get(default_var=), all Airflow 2 locations), sets an
// execution_timeout on its tasks, streams the CLI's stderr while it runs,
// and applies a run id given as a parameter (override plans). Uses python3's
// ast when python3 is installed, else a regex over the import lines.
func TestAirflowDAGImportsAirflow3Names(t *testing.T) {
	const path = "../../deploy/airflow/otds_highspot_dag.py"
	dag := read(t, path)
	var imports [][2]string // module, name ("" for `import module`)
	if py, err := exec.LookPath("python3"); err == nil {
		const prog = `import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for n in ast.walk(tree):
    if isinstance(n, ast.ImportFrom):
        for a in n.names: print(n.module + " " + a.name)
    elif isinstance(n, ast.Import):
        for a in n.names: print(a.name + " -")
`
		out, err := exec.Command(py, "-c", prog, path).CombinedOutput()
		if err != nil {
			t.Fatalf("python3 cannot parse the DAG: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			mod, name, _ := strings.Cut(line, " ")
			imports = append(imports, [2]string{mod, strings.TrimPrefix(name, "-")})
		}
	} else {
		for _, m := range regexp.MustCompile(`(?m)^\s*from (\S+) import (.+)$`).FindAllStringSubmatch(dag, -1) {
			for _, n := range strings.Split(m[2], ",") {
				imports = append(imports, [2]string{m[1], strings.TrimSpace(n)})
			}
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*import (\S+)$`).FindAllStringSubmatch(dag, -1) {
			imports = append(imports, [2]string{m[1], ""})
		}
	}
	if len(imports) == 0 {
		t.Fatal("found no imports in the DAG; the parser is broken")
	}
	for _, im := range imports {
		mod, name := im[0], im[1]
		if mod != "airflow" && !strings.HasPrefix(mod, "airflow.") {
			continue // the standard library
		}
		allowed, ok := airflow3Names[mod]
		if !ok || name == "" || !slices.Contains(allowed, name) {
			t.Errorf("the DAG imports %s from %s, not a name this test knows to exist in Airflow 3 (%v)", name, mod, allowed)
		}
	}
	for _, bad := range []string{"default_var=", "airflow.decorators", "airflow.sensors.python", "airflow.operators.python", "airflow.models"} {
		if strings.Contains(dag, bad) {
			t.Errorf("the DAG uses %s, an Airflow 2 location", bad)
		}
	}
	for _, want := range []struct{ what, re string }{
		{"execution_timeout on the tasks", `execution_timeout`},
		{"stderr streamed line by line", `for line in proc\.stderr:`},
		{"a run id parameter for override plans", `params\.run_id`},
		{"the approval record as the source of truth", `cli\("plan", "approve"`},
	} {
		if !regexp.MustCompile(want.re).MatchString(dag) {
			t.Errorf("the DAG lacks %s (%s)", want.what, want.re)
		}
	}
	if n := strings.Count(dag, "@task"); strings.Count(dag, "execution_timeout=") < n-3 {
		t.Errorf("%d tasks, %d execution_timeout settings: every task needs one (default_args or its own)", n, strings.Count(dag, "execution_timeout="))
	}
}
