package config

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// evalContext builds the context expressions are evaluated in: no variables
// and one function, env. It is built per Parse so that two parses with
// different LookupEnv never share state.
func evalContext(lookupEnv func(string) (string, bool)) *hcl.EvalContext {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env": envFunc(lookupEnv),
		},
	}
}

// envFunc is env("NAME"): the value of an environment variable. An unset
// variable is an error rather than "" so that a missing secret or address
// stops the node at validation instead of starting it misconfigured.
func envFunc(lookupEnv func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable; it is an error if the variable is not set.",
		Params: []function.Parameter{
			{Name: "name", Type: cty.String},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := lookupEnv(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %s is not set", name)
			}
			return cty.StringVal(v), nil
		},
	})
}
