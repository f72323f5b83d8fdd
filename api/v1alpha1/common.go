package v1alpha1

// Validation shared by the kinds. The rules are those of the protocol and
// the gateway's management API (protocol.ValidName, ValidVersion, the
// limits of a Deploy), so an object the API server accepts is one a gateway
// can serve. Object names are Kubernetes names (lowercase DNS subdomains) of
// at most 64 characters, which every kind checks with a CEL rule.

// Name is a fleet name: 1 to 64 letters, digits, '.', '_' or '-', the first
// a letter or digit (a device, application, gateway, board or config key).
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
type Name string

// Version is a module version: like a Name, with '+' also allowed.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._+-]*$`
type Version string

// Board is a board profile name (package board). The enum is board.Names();
// a test fails when the two differ.
// +kubebuilder:validation:Enum=linux;mps2-an386;nano33ble;riscv32-virt;stm32f4-discovery;uno-r4
type Board string

// Labels are a device's or gateway's labels, or the labels a selector asks
// for: keys are Names, values Names or empty; at most 64 entries.
// +kubebuilder:validation:MaxProperties=64
// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 64 && k.matches('^[A-Za-z0-9][A-Za-z0-9._-]*$'))",message="label keys must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
type Labels map[string]LabelValue

// LabelValue is empty or a Name.
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^([A-Za-z0-9][A-Za-z0-9._-]*)?$`
type LabelValue string

// Config is what an app reads with config_get: at most 64 entries, keys
// Names, values up to 256 bytes.
// +kubebuilder:validation:MaxProperties=64
// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 64 && k.matches('^[A-Za-z0-9][A-Za-z0-9._-]*$'))",message="config keys must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 256)",message="config values must be at most 256 bytes"
type Config map[string]string

// SHA256 is a lowercase hex sha256.
// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
type SHA256 string

// Condition types.
const (
	// Device: the device holds a session with its gateway.
	ConditionOnline = "Online"
	// Application: every selected device runs the current spec.
	ConditionReady = "Ready"
	// Application: some selected devices are still being updated.
	ConditionProgressing = "Progressing"
	// Application: some devices refused or stopped the current spec.
	ConditionDegraded = "Degraded"
	// Gateway: the gateway process reported in recently.
	ConditionGatewayReady = "Ready"
)
