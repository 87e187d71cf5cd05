// kstatus prints the kstatus of Kubernetes objects, computed by the kstatus library that Flux
// (kustomize-controller, helm-controller) uses to decide whether what it applied is healthy.
//
// Usage: kstatus < objects.yaml   (a YAML stream; one JSON line per object on stdout:
// {"kind": ..., "name": ..., "status": "Current|InProgress|Failed|...", "message": ...})
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(os.Stdin), 4096)
	out := json.NewEncoder(os.Stdout)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			fmt.Fprintln(os.Stderr, "kstatus: cannot read the input:", err)
			os.Exit(2)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		// Unstructured's own decoder keeps integers int64, as kstatus expects.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: not a Kubernetes object:", err)
			os.Exit(2)
		}
		computed, err := status.Compute(obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", obj.GetKind(), obj.GetName(), err)
			os.Exit(1)
		}
		if err := out.Encode(result{obj.GetKind(), obj.GetName(), computed.Status.String(), computed.Message}); err != nil {
			os.Exit(2)
		}
	}
}
