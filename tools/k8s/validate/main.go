// k8s-validate checks rendered Kubernetes manifests strictly, without a
// cluster: every object of a built-in kind is decoded into its client-go Go
// type with unknown and duplicate fields as errors (a wrong type fails the
// decoding) — also cert-manager's and the Prometheus Operator's kinds, whose
// Go types are linked in — and every other custom resource is checked against the OpenAPI schema
// of its CustomResourceDefinition (--crd): unknown fields (found by the API
// server's own pruning) and schema violations are errors. A kind that is
// neither fails too: nothing passes unchecked.
//
// With --policy it also checks what the chart promises for every workload:
// the restricted security context, gRPC liveness/readiness probes on every
// Deployment, a deny-by-default NetworkPolicy and one selecting each pod.
//
//	helm template ... | k8s-validate --crd strimzi-kafkatopic.yaml --policy -
//
// --json FILE writes the objects read as one JSON array, for tests that
// assert on what was rendered.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	serializerjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	// Custom resources with Go types of their own are checked like built-in
	// kinds: cert-manager's Certificate, the Prometheus Operator's
	// ServiceMonitor.
	utilruntime.Must(certmanagerv1.AddToScheme(scheme.Scheme))
	utilruntime.Must(monitoringv1.AddToScheme(scheme.Scheme))
	var crdFiles stringList
	flag.Var(&crdFiles, "crd", "a CustomResourceDefinition YAML file (repeatable)")
	policy := flag.Bool("policy", false, "also check the chart's security promises")
	jsonOut := flag.String("json", "", "write every object read, as a JSON array, to this file")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: k8s-validate [--crd FILE]... [--policy] FILE|- ...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	crds := map[schema.GroupVersionKind]crdSchema{}
	for _, f := range crdFiles {
		if err := loadCRDs(f, crds); err != nil {
			fmt.Fprintf(os.Stderr, "k8s-validate: %s: %v\n", f, err)
			os.Exit(2)
		}
	}
	var objects []object
	var problems []string
	for _, path := range flag.Args() {
		objs, errs := decodeFile(path, crds)
		objects = append(objects, objs...)
		problems = append(problems, errs...)
	}
	if *policy {
		problems = append(problems, checkPolicy(objects)...)
	}
	if *jsonOut != "" {
		var all []map[string]interface{}
		for _, o := range objects {
			all = append(all, o.raw)
		}
		data, err := json.Marshal(all)
		if err == nil {
			err = os.WriteFile(*jsonOut, data, 0o644)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("--json: %v", err))
		}
	}
	kinds := map[string]int{}
	for _, o := range objects {
		kinds[o.gvk.Kind]++
	}
	var summary []string
	for k, n := range kinds {
		summary = append(summary, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(summary)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "FAIL:", p)
	}
	fmt.Printf("k8s-validate: %d objects (%s), %d problems\n", len(objects),
		strings.Join(summary, " "), len(problems))
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// object is one decoded manifest: its kind, name and, for built-in kinds,
// its typed form.
type object struct {
	gvk   schema.GroupVersionKind
	name  string
	where string
	typed runtime.Object
	raw   map[string]interface{}
}

func loadCRDs(path string, into map[schema.GroupVersionKind]crdSchema) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
			return fmt.Errorf("not a CustomResourceDefinition: %w", err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			return fmt.Errorf("kind %q, not CustomResourceDefinition", crd.Kind)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			var internal apiextensionsinternal.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
				v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				return fmt.Errorf("%s %s: %w", crd.Name, v.Name, err)
			}
			structural, err := structuralschema.NewStructural(&internal)
			if err != nil {
				return fmt.Errorf("%s %s: not a structural schema: %w", crd.Name, v.Name, err)
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(&internal)
			if err != nil {
				return fmt.Errorf("%s %s: %w", crd.Name, v.Name, err)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name,
				Kind: crd.Spec.Names.Kind}
			into[gvk] = crdSchema{structural: structural, validator: validator}
		}
	}
}

func decodeFile(path string, crds map[schema.GroupVersionKind]crdSchema) ([]object, []string) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	strict := serializerjson.NewSerializerWithOptions(serializerjson.DefaultMetaFactory,
		scheme.Scheme, scheme.Scheme,
		serializerjson.SerializerOptions{Yaml: true, Strict: true})
	var objects []object
	var problems []string
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		where := fmt.Sprintf("%s document %d", path, n)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			break
		}
		var generic map[string]interface{}
		if err := yaml.Unmarshal(doc, &generic); err != nil {
			problems = append(problems, fmt.Sprintf("%s: not YAML: %v", where, err))
			continue
		}
		if len(generic) == 0 {
			continue // only comments
		}
		apiVersion, _ := generic["apiVersion"].(string)
		kind, _ := generic["kind"].(string)
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil || kind == "" {
			problems = append(problems, fmt.Sprintf("%s: apiVersion %q kind %q", where,
				apiVersion, kind))
			continue
		}
		gvk := gv.WithKind(kind)
		name := ""
		if md, ok := generic["metadata"].(map[string]interface{}); ok {
			name, _ = md["name"].(string)
		}
		where = fmt.Sprintf("%s (%s %s)", where, kind, name)
		if name == "" {
			problems = append(problems, where+": metadata.name is empty")
		}
		o := object{gvk: gvk, name: name, where: where, raw: generic}
		switch {
		case scheme.Scheme.Recognizes(gvk):
			typed, _, err := strict.Decode(doc, nil, nil)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			o.typed = typed
		case crds[gvk].structural != nil:
			problems = append(problems, validateCustom(where, generic, crds[gvk])...)
		default:
			problems = append(problems, fmt.Sprintf(
				"%s: %s is neither a built-in kind nor one of a --crd", where, gvk))
			continue
		}
		objects = append(objects, o)
	}
	return objects, problems
}

// validateCustom is what the API server does with a custom resource before
// storing it, less CEL rules: prune unknown fields (here: report them) and
// validate against the schema.
func validateCustom(where string, obj map[string]interface{}, s crdSchema) []string {
	var problems []string
	copied := runtime.DeepCopyJSON(obj)
	unknown := pruning.PruneWithOptions(copied, s.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		problems = append(problems, fmt.Sprintf("%s: unknown field %q", where, path))
	}
	for _, e := range apiservervalidation.ValidateCustomResource(field.NewPath(""), obj,
		s.validator) {
		problems = append(problems, fmt.Sprintf("%s: %v", where, e))
	}
	return problems
}

// checkPolicy: the chart's promises for every workload of the release.
func checkPolicy(objects []object) []string {
	var problems []string
	var policies []*networkingv1.NetworkPolicy
	defaultDeny := false
	for _, o := range objects {
		if np, ok := o.typed.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, np)
			if len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
				hasType(np, networkingv1.PolicyTypeIngress) &&
				hasType(np, networkingv1.PolicyTypeEgress) {
				defaultDeny = true
			}
		}
	}
	if !defaultDeny {
		problems = append(problems, "no deny-by-default NetworkPolicy (Ingress and Egress, no rules)")
	}
	workloads := 0
	for _, o := range objects {
		var pod *corev1.PodTemplateSpec
		isDeployment := false
		switch t := o.typed.(type) {
		case *appsv1.Deployment:
			pod, isDeployment = &t.Spec.Template, true
		case *batchv1.Job:
			pod = &t.Spec.Template
		case *appsv1.StatefulSet, *appsv1.DaemonSet, *batchv1.CronJob, *corev1.Pod:
			problems = append(problems, o.where+": workload kind the policy check does not cover")
			continue
		default:
			continue
		}
		workloads++
		problems = append(problems, checkPod(o.where, pod, isDeployment)...)
		selected := false
		for _, np := range policies {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				problems = append(problems, fmt.Sprintf("NetworkPolicy %s: %v", np.Name, err))
				continue
			}
			if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) > 0 &&
				sel.Matches(labels.Set(pod.Labels)) && (len(np.Spec.Ingress) > 0 ||
				len(np.Spec.Egress) > 0) {
				selected = true
			}
		}
		if !selected {
			problems = append(problems, o.where+": no NetworkPolicy with rules selects its pods")
		}
	}
	if workloads == 0 {
		problems = append(problems, "no workloads rendered")
	}
	return problems
}

func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	for _, have := range np.Spec.PolicyTypes {
		if have == t {
			return true
		}
	}
	return false
}

func checkPod(where string, pod *corev1.PodTemplateSpec, isDeployment bool) []string {
	var problems []string
	bad := func(format string, args ...interface{}) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		bad("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod seccompProfile is not RuntimeDefault")
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		bad("pod mounts a service account token")
	}
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		bad("pod shares a host namespace")
	}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			bad("volume %s is a hostPath", v.Name)
		}
	}
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...),
		pod.Spec.Containers...)
	if len(containers) == 0 {
		bad("no containers")
	}
	for _, c := range containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			bad("container %s: no securityContext", c.Name)
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			bad("container %s: root filesystem is writable", c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			bad("container %s: privilege escalation allowed", c.Name)
		case sc.Privileged != nil && *sc.Privileged:
			bad("container %s: privileged", c.Name)
		case sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 ||
			len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
			bad("container %s: capabilities are not exactly drop [ALL]", c.Name)
		case sc.RunAsUser != nil && *sc.RunAsUser == 0:
			bad("container %s: runs as UID 0", c.Name)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			bad("container %s: no memory request and limit", c.Name)
		}
		if !isDeployment {
			continue
		}
		for probeName, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe,
			"readiness": c.ReadinessProbe} {
			if p == nil || p.GRPC == nil {
				bad("container %s: no gRPC %s probe", c.Name, probeName)
				continue
			}
			if !hasPort(c, p.GRPC.Port) {
				bad("container %s: %s probe port %d is not a container port", c.Name,
					probeName, p.GRPC.Port)
			}
		}
	}
	return problems
}

func hasPort(c corev1.Container, port int32) bool {
	for _, p := range c.Ports {
		if p.ContainerPort == port {
			return true
		}
	}
	return false
}
