package provider

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// certificateResource is wasmbed_certificate: a device certificate signed by
// the fleet's CA (step-ca, through the gateway) for a CSR made elsewhere, so
// the private key never passes through Terraform. Like the tls provider's
// locally signed certificates, it plans a replacement once it is within its
// renewal window.
type certificateResource struct{ backend Backend }

var (
	_ resource.ResourceWithConfigure  = (*certificateResource)(nil)
	_ resource.ResourceWithModifyPlan = (*certificateResource)(nil)
)

func NewCertificateResource() resource.Resource { return &certificateResource{} }

type certificateModel struct {
	ID                types.String `tfsdk:"id"`
	Device            types.String `tfsdk:"device"`
	CSRPEM            types.String `tfsdk:"csr_pem"`
	ValidityHours     types.Int64  `tfsdk:"validity_hours"`
	EarlyRenewalHours types.Int64  `tfsdk:"early_renewal_hours"`
	CertPEM           types.String `tfsdk:"cert_pem"`
	Serial            types.String `tfsdk:"serial"`
	NotBefore         types.String `tfsdk:"not_before"`
	NotAfter          types.String `tfsdk:"not_after"`
	ReadyForRenewal   types.Bool   `tfsdk:"ready_for_renewal"`
}

func (r *certificateResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_certificate"
}

func (r *certificateResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "A device certificate signed by the fleet's CA for a CSR (PEM) made where the private key lives. " +
			"The certificate names the device (common name and SANs). The CSR must be for an ECDSA P-256 key and either leave its subject and SANs empty or ask for exactly " +
			"what the certificate carries: common name = the device name, SANs = the device's (the URI `urn:wasmbed:device:NAME`, plus NAME as a DNS name when it is one); " +
			"any other common name, DNS name, URI, IP address or e-mail is refused, at plan when `device` and `csr_pem` are known. " +
			"Within `early_renewal_hours` of expiry, a plan replaces it.\n\n" +
			"The certificate is recorded in the gateway's certificate ledger and becomes the device's current certificate: " +
			"the one the device had before (enrolled, renewed or signed here) is superseded, refused from then on, and a session " +
			"holding it is closed. Replacing the resource therefore switches the device to the new certificate, whichever of " +
			"the old one's destroy and the new one's create runs first. Destroying the resource revokes the certificate: the " +
			"gateway refuses it at once, closes a session holding it, and the CA lists it on its CRL (`GET /v1/crl`); a device " +
			"left with no usable certificate is marked `revoked` until it enrolls or gets a new one. " +
			"Signing needs the standalone backend (with the kubernetes backend devices enroll with one-time tokens).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The certificate's serial (hex).", PlanModifiers: keep},
			"device": schema.StringAttribute{Required: true, Validators: nameValidators, PlanModifiers: replace,
				Description: "The registered device the certificate is for."},
			"csr_pem": schema.StringAttribute{Required: true, PlanModifiers: replace,
				Description: "PKCS#10 certificate request in PEM, for an ECDSA P-256 key, with an empty subject or the device name as common name, and no SANs but the device's (see above)."},
			"validity_hours": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(24),
				Validators:    []validator.Int64{int64validator.Between(1, 30*24)},
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description:   "Lifetime in hours (the CA may cap it: step-ca's default maximum is 24). Default: 24."},
			"early_renewal_hours": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(8),
				Validators:  []validator.Int64{int64validator.AtLeast(0)},
				Description: "Plan a new certificate this many hours before expiry. Default: 8."},
			"cert_pem":   schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "The chain in PEM, leaf first."},
			"serial":     schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "Serial (hex)."},
			"not_before": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "RFC 3339."},
			"not_after":  schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "RFC 3339."},
			"ready_for_renewal": schema.BoolAttribute{Computed: true, PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
				Description: "True once within the renewal window; a plan then replaces the certificate."},
		},
	}
}

// checkCSR refuses, at plan, a CSR the CA would refuse for the device
// (ca.CheckDeviceCSR, the rule the gateway signs by). It runs for the
// standalone backend only: the Kubernetes backend refuses the resource.
func (r *certificateResource) checkCSR(m *certificateModel, diags *diag.Diagnostics) {
	if _, ok := r.backend.(*gatewayBackend); !ok || m.Device.IsUnknown() || m.CSRPEM.IsUnknown() {
		return
	}
	device := m.Device.ValueString()
	block, _ := pem.Decode([]byte(m.CSRPEM.ValueString()))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		diags.AddAttributeError(path.Root("csr_pem"), "Not a certificate request", "csr_pem must hold a PEM block of type CERTIFICATE REQUEST.")
		return
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = ca.CheckDeviceCSR(csr, device)
	}
	if err != nil {
		diags.AddAttributeError(path.Root("csr_pem"), "Certificate request refused for device "+device, err.Error())
	}
}

func (r *certificateResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan replaces the certificate once it is within its renewal window.
func (r *certificateResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx, end := startOp(ctx, "wasmbed_certificate", "plan")
	defer end(&resp.Diagnostics)
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var state, plan certificateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if req.State.Raw.IsNull() {
		r.checkCSR(&plan, &resp.Diagnostics) // a new certificate
		return
	}
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if !plan.CSRPEM.Equal(state.CSRPEM) || !plan.Device.Equal(state.Device) {
		r.checkCSR(&plan, &resp.Diagnostics) // a replacement
	}
	if resp.Diagnostics.HasError() || plan.EarlyRenewalHours.IsUnknown() {
		return
	}
	notAfter, err := time.Parse(time.RFC3339, state.NotAfter.ValueString())
	if err != nil {
		return
	}
	if time.Now().After(notAfter.Add(-time.Duration(plan.EarlyRenewalHours.ValueInt64()) * time.Hour)) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("ready_for_renewal"), true)...)
		resp.RequiresReplace = append(resp.RequiresReplace, path.Root("ready_for_renewal"))
	}
}

func (r *certificateResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx, end := startOp(ctx, "wasmbed_certificate", "create")
	defer end(&resp.Diagnostics)
	var m certificateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.backend.SignCertificate(ctx, apiv1.CertificateRequest{CSRPEM: m.CSRPEM.ValueString(), Device: m.Device.ValueString(),
		TTLSeconds: int(m.ValidityHours.ValueInt64()) * 3600})
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot sign the certificate for "+m.Device.ValueString(), err)
		return
	}
	m.ID, m.Serial, m.CertPEM = types.StringValue(out.Serial), types.StringValue(out.Serial), types.StringValue(out.ChainPEM)
	m.NotBefore = types.StringValue(out.NotBefore.UTC().Format(time.RFC3339))
	m.NotAfter = types.StringValue(out.NotAfter.UTC().Format(time.RFC3339))
	m.ReadyForRenewal = types.BoolValue(false)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Read keeps the state: a signed certificate does not change; renewal is
// planned from its expiry.
func (r *certificateResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx, end := startOp(ctx, "wasmbed_certificate", "read")
	defer end(&resp.Diagnostics)
	var m certificateModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if notAfter, err := time.Parse(time.RFC3339, m.NotAfter.ValueString()); err == nil {
		m.ReadyForRenewal = types.BoolValue(time.Now().After(notAfter.Add(-time.Duration(m.EarlyRenewalHours.ValueInt64()) * time.Hour)))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update only changes early_renewal_hours, which is local.
func (r *certificateResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, end := startOp(ctx, "wasmbed_certificate", "update")
	defer end(&resp.Diagnostics)
	var m certificateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if !resp.Diagnostics.HasError() {
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

// Delete revokes the certificate: the gateway refuses it at once, closes a
// session holding it and the CA lists it on its CRL. A certificate the
// ledger no longer knows (its device deleted long ago) is gone already.
func (r *certificateResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx, end := startOp(ctx, "wasmbed_certificate", "delete")
	defer end(&resp.Diagnostics)
	var m certificateModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	serial := m.Serial.ValueString()
	if serial == "" {
		serial = m.ID.ValueString()
	}
	if _, err := r.backend.RevokeCertificate(ctx, serial, "wasmbed_certificate destroyed"); err != nil && !isNotFound(err) {
		apiError(&resp.Diagnostics, "Cannot revoke certificate "+serial+" of "+m.Device.ValueString(), err)
	}
}
