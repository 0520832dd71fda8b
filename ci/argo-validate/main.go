// argo-validate checks WorkflowTemplates and Workflows offline with Argo Workflows' own
// validator (the code `argo lint` and the workflow controller run), so what the chart renders
// is judged by Argo itself, not by a copy of its rules.
//
// Usage: argo-validate FILE... (or - for standard input). Every YAML document is read; each
// WorkflowTemplate and Workflow is decoded strictly (an unknown field is an error) and then
// validated with Lint: true. templateRef targets resolve against the WorkflowTemplates given in
// the same run, so a Workflow that references a missing template or parameter is caught too.
// Other kinds are ignored (the TypeScript harness validates them). One line per object;
// exit 0 when all are valid, 1 when any is not, 2 on unreadable input.
//
// Argo is pinned to v4.0.5: the newest v4 release the Go module proxy serves here (v4.1.x is
// refused). The reference CRDs the chart is written against are v4.1.2; the validation rules did
// not change in between for the fields the chart uses.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/argoproj/argo-workflows/v4/workflow/validate"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// templates resolves templateRef lookups from the documents given on the command line.
type templates map[string]*wfv1.WorkflowTemplate

func (t templates) Get(_ context.Context, name string) (*wfv1.WorkflowTemplate, error) {
	if tmpl, ok := t[name]; ok {
		return tmpl, nil
	}
	return nil, fmt.Errorf("workflowtemplates.argoproj.io %q not found (not among the validated documents)", name)
}

type noClusterTemplates struct{}

func (noClusterTemplates) Get(_ context.Context, name string) (*wfv1.ClusterWorkflowTemplate, error) {
	return nil, fmt.Errorf("clusterworkflowtemplates.argoproj.io %q not found (cluster templates are not validated here)", name)
}

func readDocuments(name string) ([][]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: argo-validate FILE... (- for standard input)")
		os.Exit(2)
	}
	ctx := logging.WithLogger(context.Background(), logging.NewSlogLoggerCustom(logging.Error, logging.Text, os.Stderr))

	wftmpls := templates{}
	var workflows []*wfv1.Workflow
	var order []string
	failed := false
	fail := func(what string, err error) {
		failed = true
		fmt.Printf("error %s: %v\n", what, err)
	}

	for _, name := range os.Args[1:] {
		docs, err := readDocuments(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "argo-validate: %v\n", err)
			os.Exit(2)
		}
		for _, doc := range docs {
			var meta typeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				fmt.Fprintf(os.Stderr, "argo-validate: %s: not YAML: %v\n", name, err)
				os.Exit(2)
			}
			what := fmt.Sprintf("%s/%s", meta.Kind, meta.Metadata.Name)
			switch meta.Kind {
			case "WorkflowTemplate":
				var wft wfv1.WorkflowTemplate
				if err := yaml.UnmarshalStrict(doc, &wft); err != nil {
					fail(what, err)
					continue
				}
				wftmpls[wft.Name] = &wft
				order = append(order, wft.Name)
			case "Workflow":
				var wf wfv1.Workflow
				if err := yaml.UnmarshalStrict(doc, &wf); err != nil {
					fail(what, err)
					continue
				}
				workflows = append(workflows, &wf)
			}
		}
	}

	for _, name := range order {
		err := validate.ValidateWorkflowTemplate(ctx, wftmpls, noClusterTemplates{}, wftmpls[name], nil, validate.ValidateOpts{Lint: true})
		if err != nil {
			fail("WorkflowTemplate/"+name, err)
		} else {
			fmt.Printf("ok WorkflowTemplate/%s\n", name)
		}
	}
	for _, wf := range workflows {
		what := "Workflow/" + wf.Name
		if wf.Name == "" {
			what = "Workflow/" + wf.GenerateName + "*"
		}
		if err := validate.ValidateWorkflow(ctx, wftmpls, noClusterTemplates{}, wf, nil, validate.ValidateOpts{Lint: true}); err != nil {
			fail(what, err)
		} else {
			fmt.Printf("ok %s\n", what)
		}
	}
	if failed {
		os.Exit(1)
	}
}
