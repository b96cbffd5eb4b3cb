// bn-checks: the outside judges the tests ask, built from the projects' own
// Go code (tools/build.sh caches the binary like the control plane):
//
//	bn-checks status FLUX_KUSTOMIZATION.yaml < objects.json
//	    For each object of a JSON array, the status that kstatus
//	    (sigs.k8s.io/cli-utils, what kubectl wait, Flux and many tools read)
//	    computes, and the one Flux's own evaluator computes from the
//	    healthCheckExprs of the given Flux Kustomization. Prints a JSON array.
//	bn-checks rules FILE...
//	    What `promtool check rules` checks: each file parsed and validated by
//	    Prometheus's own rulefmt (strict YAML, PromQL, templates), then the
//	    metric names each expression selects, as JSON, so that a test can
//	    check them against the operator's /metrics.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	fluxkustomize "github.com/fluxcd/pkg/apis/kustomize"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bn-checks status FLUX_KUSTOMIZATION.yaml < objects.json | bn-checks rules FILE...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "status":
		err = statuses(os.Args[2], os.Stdin, os.Stdout)
	case "rules":
		err = rules(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bn-checks:", err)
		os.Exit(1)
	}
}

type verdict struct {
	Name          string `json:"name"`
	KStatus       string `json:"kstatus"`
	KStatusReason string `json:"kstatusMessage"`
	Flux          string `json:"flux"`
	FluxError     string `json:"fluxError,omitempty"`
}

// The healthCheckExprs of a Flux Kustomization manifest.
func healthChecks(path string) ([]fluxkustomize.CustomHealthCheck, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k struct {
		Spec struct {
			HealthCheckExprs []fluxkustomize.CustomHealthCheck `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(raw, &k, yaml.DisallowUnknownFields); err != nil {
		// Only spec.healthCheckExprs is decoded strictly: the rest of the
		// Kustomization is Flux's business.
		if err := yaml.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(k.Spec.HealthCheckExprs) == 0 {
		return nil, fmt.Errorf("%s: no spec.healthCheckExprs", path)
	}
	return k.Spec.HealthCheckExprs, nil
}

func statuses(fluxPath string, in io.Reader, out io.Writer) error {
	checks, err := healthChecks(fluxPath)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	var verdicts []verdict
	for i, item := range items {
		// unstructured's own decoder: plain encoding/json would make the
		// generations float64, which kstatus rejects.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(item); err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
		v := verdict{Name: u.GetName()}
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("kstatus of %s: %w", u.GetName(), err)
		}
		v.KStatus, v.KStatusReason = string(res.Status), res.Message

		v.Flux = "NoHealthCheck"
		for _, hc := range checks {
			if hc.APIVersion != u.GetAPIVersion() || hc.Kind != u.GetKind() {
				continue
			}
			evaluator, err := fluxcel.NewStatusEvaluator(&hc.HealthCheckExpressions)
			if err != nil {
				return fmt.Errorf("healthCheckExprs for %s: %w", hc.Kind, err)
			}
			res, err := evaluator.Evaluate(context.Background(), u)
			if err != nil {
				// Flux's status reader reports an evaluation error as Unknown
				// and keeps waiting.
				v.Flux, v.FluxError = string(status.UnknownStatus), err.Error()
			} else {
				v.Flux = string(res.Status)
			}
			break
		}
		verdicts = append(verdicts, v)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(verdicts)
}

type ruleReport struct {
	File    string   `json:"file"`
	Rules   int      `json:"rules"`
	Alerts  []string `json:"alerts"`
	Metrics []string `json:"metrics"`
}

func rules(files []string, out io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p := parser.NewParser(parser.Options{})
	var reports []ruleReport
	failed := false
	for _, f := range files {
		// As `promtool check rules` calls it: unknown fields are errors.
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, logger)
		if len(errs) > 0 {
			failed = true
			for _, e := range errs {
				fmt.Fprintln(os.Stderr, e)
			}
			continue
		}
		r := ruleReport{File: f}
		seen := map[string]bool{}
		for _, g := range groups.Groups {
			for _, rule := range g.Rules {
				r.Rules++
				if rule.Alert != "" {
					r.Alerts = append(r.Alerts, rule.Alert)
				}
				expr, err := p.ParseExpr(rule.Expr)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
					if vs, ok := node.(*parser.VectorSelector); ok && vs.Name != "" && !seen[vs.Name] {
						seen[vs.Name] = true
						r.Metrics = append(r.Metrics, vs.Name)
					}
					return nil
				})
			}
		}
		reports = append(reports, r)
	}
	if failed {
		return fmt.Errorf("rule files failed the check")
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}
