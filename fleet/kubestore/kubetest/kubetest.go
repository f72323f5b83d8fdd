// Package kubetest runs a real Kubernetes API server (kube-apiserver and
// etcd, the binaries `make setup` puts in bin/) with Wasmbed's CRDs
// installed, through controller-runtime's envtest, for tests of the
// Kubernetes mode. A missing binary fails the test: skipping would hide
// that the Kubernetes mode went untested.
package kubetest

import (
	"context"

	"fmt"
	"github.com/go-logr/logr"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// RepoRoot is the repository's root directory, found from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Assets is the folder holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS when set, else the repository's bin/. It fails the
// test when one of them is missing.
func Assets(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin")
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			t.Fatalf("%s not found at %s (KUBEBUILDER_ASSETS=%q): run make setup", name, p, os.Getenv("KUBEBUILDER_ASSETS"))
		}
	}
	return dir
}

// CRDDir is the folder of the generated CRDs.
func CRDDir() string { return filepath.Join(RepoRoot(), "config", "crd", "bases") }

// Scheme knows the core types and fleet.wasmbed.dev/v1alpha1.
func Scheme() *k8sruntime.Scheme { return kubestore.Scheme() }

var logOnce sync.Once

// Env is a running API server with the CRDs installed.
type Env struct {
	Env    *envtest.Environment
	Config *rest.Config  // system:masters
	Client client.Client // with Config and Scheme()
	Assets string

	nsSeq atomic.Int64
}

// Start starts etcd and kube-apiserver and installs the CRDs; they stop
// when the test ends. The API server keeps its port and certificates
// across StopAPIServer and StartAPIServer.
func Start(t testing.TB) *Env {
	t.Helper()
	return start(t, nil)
}

// WebhookDir holds the validating admission webhook's configuration
// (controller-gen's, from the controller's markers).
func WebhookDir() string { return filepath.Join(RepoRoot(), "config", "webhook") }

// WebhookConfiguration is the name the deployment gives the admission
// webhooks' configuration (config/webhook), which StartWithWebhooks
// installs under it.
const WebhookConfiguration = "wasmbed-validating-webhook"

// StartWithWebhooks is Start with the admission webhooks of WebhookDir
// installed as WebhookConfiguration, calling a server on this machine (the
// test starts it where Env.WebhookInstallOptions says: LocalServingHost,
// LocalServingPort, LocalServingCertDir, whose CA is in the
// configuration). They apply to every namespace of this API server.
func StartWithWebhooks(t testing.TB) *Env {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(WebhookDir(), "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("webhook manifests: %v", err)
	}
	cfg.Name = WebhookConfiguration
	return start(t, func(e *envtest.Environment) {
		e.WebhookInstallOptions = envtest.WebhookInstallOptions{ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{&cfg}}
	})
}

// ClusterRoleFor creates the ClusterRole and ClusterRoleBinding of
// config/rbac/<file> (once per API server) and binds the ClusterRole to
// user too.
func (e *Env) ClusterRoleFor(t testing.TB, file, user string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := e.Client.Create(ctx, &u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s: create %s %s: %v", file, u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() != "ClusterRole" {
			continue
		}
		rb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: u.GetName() + "-" + user},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: u.GetName()},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}}}
		if err := e.Client.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("bind cluster role %s: %v", u.GetName(), err)
		}
	}
}

func start(t testing.TB, with func(*envtest.Environment)) *Env {
	t.Helper()
	assets := Assets(t)
	certDir := t.TempDir()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{CRDDir()},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{CertDir: certDir},
		},
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if with != nil {
		with(env)
	}
	logOnce.Do(func() {
		h := slog.DiscardHandler
		if os.Getenv("WASMBED_TEST_LOG") != "" {
			h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		ctrllog.SetLogger(logr.FromSlogHandler(h))
		klog.SetSlogLogger(slog.New(h))
	})
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		env.Stop()
		t.Fatalf("start kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Logf("kube-apiserver and etcd ready with the CRDs in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop control plane: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	installPolicies(t, cfg, c)
	return &Env{Env: env, Config: cfg, Client: c, Assets: assets}
}

// Policies are the cluster-scoped admission policies (config/policy) that
// every API server of the tests enforces, as a deployment's does.
var Policies = []string{"gateway_policy.yaml"}

// installPolicies creates the objects of Policies.
func installPolicies(t testing.TB, cfg *rest.Config, c client.Client) {
	t.Helper()
	for _, f := range Policies {
		raw, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "policy", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := c.Create(context.Background(), &u); err != nil {
				t.Fatalf("%s: create %s %s: %v", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
	awaitPolicies(t, cfg, c)
}

// awaitPolicies waits until the API server enforces the gateway policy
// (it loads policies asynchronously): a gateway's dry-run creation of a
// ConfigMap other than the CA's is refused.
func awaitPolicies(t testing.TB, admin *rest.Config, c client.Client) {
	t.Helper()
	ctx := context.Background()
	const ns, user = "wasmbed-policy-probe", "wasmbed-gateway:probe"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}}}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "probe"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}}}
	for _, o := range []client.Object{role, rb} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	as, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		err := as.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}}, client.DryRunAll)
		switch {
		case err != nil && strings.Contains(err.Error(), "may create the CA"):
			return
		case err != nil && !strings.Contains(err.Error(), "cannot create resource"):
			// (that one: the probe's Role binding not in the authorizer's cache yet)
			t.Fatalf("probe the gateway policy: %v", err)
		case time.Since(start) > time.Minute:
			t.Fatalf("the API server does not enforce the gateway policy after %v (last: %v)", time.Since(start).Round(time.Second), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Namespace creates a namespace for one test (or subtest).
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", e.nsSeq.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// User returns a configuration that authenticates as user name in groups
// (no permissions until a role is bound to it).
func (e *Env) User(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	u, err := e.Env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 200, Burst: 400})
	if err != nil {
		t.Fatal(err)
	}
	return u.Config()
}

// UserWithRole creates in ns the Role of config/rbac/<roleFile>, binds it
// to a new user and returns that user's configuration: code run with it
// has exactly the permissions the deployment manifests give.
func (e *Env) UserWithRole(t testing.TB, ns, roleFile, user string) *rest.Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "rbac", roleFile))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatalf("%s: %v", roleFile, err)
	}
	role.Namespace = ns
	ctx := context.Background()
	if err := e.Client.Create(ctx, &role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create role %s: %v", role.Name, err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name + "-" + user, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}}}
	if err := e.Client.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("bind role %s: %v", role.Name, err)
	}
	return e.User(t, user)
}

// GatewayUser is UserWithRole for the gateway named name: the user
// wasmbed-gateway:<name> bound to the wasmbed-gateway Role, whom the
// policy of config/policy/gateway_policy.yaml knows as that gateway (as it
// knows a gateway pod by its pod-bound ServiceAccount token).
func (e *Env) GatewayUser(t testing.TB, ns, name string) *rest.Config {
	t.Helper()
	return e.UserWithRole(t, ns, "gateway_role.yaml", "wasmbed-gateway:"+name)
}

// StopAPIServer kills kube-apiserver (SIGKILL: an outage, not a graceful
// shutdown, which takes it a dozen seconds); etcd keeps running.
func (e *Env) StopAPIServer(t testing.TB) {
	t.Helper()
	if pid := e.apiServerPID(t); pid > 0 {
		if p, err := os.FindProcess(pid); err == nil {
			p.Signal(syscall.SIGKILL)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.apiServerPID(t) == pid && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := e.Env.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatalf("stop kube-apiserver: %v", err)
	}
}

// apiServerPID finds this environment's kube-apiserver by its certificate
// folder on its command line (0: not running).
func (e *Env) apiServerPID(t testing.TB) int {
	dir := e.Env.ControlPlane.APIServer.CertDir
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "kube-apiserver") || !strings.Contains(string(b), dir) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue // exited, not yet reaped
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		return pid
	}
	return 0
}

// StartAPIServer starts kube-apiserver again on the same etcd, port and
// certificates, and waits until it answers.
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	if err := e.Env.ControlPlane.APIServer.Start(); err != nil {
		t.Fatalf("restart kube-apiserver: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var l corev1.NamespaceList
		err := e.Client.List(context.Background(), &l)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not answering after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kubeconfig writes a kubeconfig file for cfg (namespace ns as the
// context's default) and returns its path.
func (e *Env) Kubeconfig(t testing.TB, cfg *rest.Config, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "user", Namespace: ns}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
