package provider

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/firmware/provision"
)

// bundleResource is wasmbed_provisioning_bundle: the file a device needs on
// its first start (gateway addresses, CA root, its name and board, and a
// one-time enrollment token), written where the operator flashes or copies
// it from. The token is a write-only argument: it reaches the file, never
// Terraform's state or plan.
type bundleResource struct{ backend Backend }

var _ resource.ResourceWithConfigure = (*bundleResource)(nil)

func NewProvisioningBundleResource() resource.Resource { return &bundleResource{} }

type bundleModel struct {
	ID             types.String `tfsdk:"id"`
	Device         types.String `tfsdk:"device"`
	Gateways       types.List   `tfsdk:"gateways"`
	ServerName     types.String `tfsdk:"server_name"`
	Path           types.String `tfsdk:"path"`
	TokenWO        types.String `tfsdk:"token_wo"`
	TokenWOVersion types.Int64  `tfsdk:"token_wo_version"`
	Board          types.String `tfsdk:"board"`
	FirmwareImage  types.String `tfsdk:"firmware_image"`
	FirmwareOutput types.String `tfsdk:"firmware_output"`
}

// bundleFile is the bundle's JSON, as the Go agent (agent.Bundle) and the
// firmware's provisioning tool read it.
type bundleFile struct {
	Gateways   []string `json:"gateways"`
	CARoot     string   `json:"ca_root"`
	ServerName string   `json:"server_name,omitempty"`
	Device     string   `json:"device"`
	Token      string   `json:"token"`
	Board      string   `json:"board"`
}

func (r *bundleResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_provisioning_bundle"
}

func (r *bundleResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "Writes a device's provisioning bundle (JSON: gateway addresses, the CA root, device name and board, one-time enrollment token) to a file (mode 0600), " +
			"for the Go agent (`wasmbed-agent -bundle FILE`) or the firmware's provisioning tool. The token is write-only: pass it from the " +
			"`wasmbed_enrollment_token` ephemeral resource; it is never stored in state. Bump `token_wo_version` to write a new token. " +
			"With `firmware_image` it also writes a provisioned copy of a firmware image (what `wasmbed-provision` does), so `terraform apply` yields flashable files.",
		Attributes: map[string]schema.Attribute{
			"id":     schema.StringAttribute{Computed: true, Description: "The file path.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"device": schema.StringAttribute{Required: true, Validators: nameValidators, PlanModifiers: replace, Description: "The registered device."},
			"gateways": schema.ListAttribute{Required: true, ElementType: types.StringType,
				Validators:    []validator.List{listvalidator.SizeAtLeast(1)},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
				Description:   "Gateway device endpoints, `host:port`, tried in order."},
			"server_name": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Description: "Name the gateway's certificate must carry; default: the host dialled."},
			"path": schema.StringAttribute{Required: true, PlanModifiers: replace, Description: "Where to write the bundle."},
			"token_wo": schema.StringAttribute{Required: true, WriteOnly: true, Sensitive: true,
				Description: "One-time enrollment token (write-only: never stored)."},
			"token_wo_version": schema.Int64Attribute{Optional: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description: "Change it to write the file again with a new token."},
			"firmware_image": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:  []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("firmware_output"), path.MatchRoot("server_name"))},
				Description: "A firmware image for the device's board (the ELF `make firmware` builds, `bin/firmware/<board>.elf`): the bundle is also written into a copy of it, at `firmware_output`, ready to flash or boot in an emulator. The firmware checks the gateway's certificate against a DNS name, so `server_name` is required with it."},
			"firmware_output": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:  []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("firmware_image"))},
				Description: "Where to write the provisioned firmware image (mode 0600: it holds the token). Removing the file plans it again."},
			"board": schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
				Description: "The device's board, from its registration."},
		},
	}
}

func (r *bundleResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *bundleResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m bundleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	var token types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("token_wo"), &token)...)
	if resp.Diagnostics.HasError() {
		return
	}
	dev, err := r.backend.GetDevice(ctx, m.Device.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read device "+m.Device.ValueString(), err)
		return
	}
	root, err := r.backend.CA(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read the CA root", err)
		return
	}
	b := bundleFile{Gateways: stringList(ctx, m.Gateways, &resp.Diagnostics), CARoot: root, ServerName: m.ServerName.ValueString(),
		Device: dev.Name, Token: token.ValueString(), Board: dev.Board}
	writeBundle(m.Path.ValueString(), &b, &resp.Diagnostics)
	if !m.FirmwareImage.IsNull() {
		writeFirmware(m.FirmwareImage.ValueString(), m.FirmwareOutput.ValueString(), &b, &resp.Diagnostics)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	m.ID, m.Board, m.TokenWO = m.Path, types.StringValue(dev.Board), types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func writeBundle(p string, b *bundleFile, diags *diag.Diagnostics) {
	js, err := json.MarshalIndent(b, "", "  ")
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			tmp := p + ".tmp"
			if err = os.WriteFile(tmp, append(js, '\n'), 0o600); err == nil {
				err = os.Rename(tmp, p)
			}
		}
	}
	if err != nil {
		diags.AddAttributeError(path.Root("path"), "Cannot write the bundle", err.Error())
	}
}

// writeFirmware writes b into a copy of the firmware image at in (its config
// area, firmware/provision), to out.
func writeFirmware(in, out string, b *bundleFile, diags *diag.Diagnostics) {
	image, err := os.ReadFile(in)
	if err != nil {
		diags.AddAttributeError(path.Root("firmware_image"), "Cannot read the firmware image", err.Error())
		return
	}
	blk, _ := pem.Decode([]byte(b.CARoot))
	if blk == nil {
		diags.AddError("Cannot read the CA root", "the gateway's CA root is not PEM")
		return
	}
	pb := provision.Bundle{Gateways: b.Gateways, ServerName: b.ServerName, CARoot: blk.Bytes, Device: b.Device, Token: b.Token, Board: b.Board}
	raw, err := pb.Marshal()
	if err == nil {
		image, err = provision.Write(image, raw, -1)
	}
	if err != nil {
		diags.AddAttributeError(path.Root("firmware_image"), "Cannot provision the firmware image", fmt.Sprintf("%s: %v", in, err))
		return
	}
	if err = os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		tmp := out + ".tmp"
		if err = os.WriteFile(tmp, image, 0o600); err == nil {
			err = os.Rename(tmp, out)
		}
	}
	if err != nil {
		diags.AddAttributeError(path.Root("firmware_output"), "Cannot write the firmware image", err.Error())
	}
}

// Read notices a bundle file or firmware image that was removed: it is
// planned again.
func (r *bundleResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m bundleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, p := range []types.String{m.Path, m.FirmwareOutput} {
		if p.IsNull() {
			continue
		}
		if _, err := os.Stat(p.ValueString()); errors.Is(err, os.ErrNotExist) {
			resp.State.RemoveResource(ctx)
			return
		}
	}
}

// Update is never called with a change (every argument replaces), but the
// framework requires it.
func (r *bundleResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m bundleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	m.TokenWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *bundleResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m bundleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	for _, p := range []types.String{m.Path, m.FirmwareOutput} {
		if p.IsNull() {
			continue
		}
		if err := os.Remove(p.ValueString()); err != nil && !errors.Is(err, os.ErrNotExist) {
			resp.Diagnostics.AddError("Cannot remove "+p.ValueString(), err.Error())
		}
	}
}
