package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
	"github.com/ferryhealth/ferry/residency"
)

// ResidencyEnabled reports whether the deployment declares regions. Without
// them (dev_mode only) every node serves every tenant.
func (c *Config) ResidencyEnabled() bool { return len(c.Regions) > 0 }

// Region returns the declared region called name.
func (c *Config) Region(name string) (Region, bool) {
	for _, r := range c.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// Placement is a tenant's residency.Tenant: its home and allowed regions.
func (t *Tenant) Placement() residency.Tenant {
	return residency.Tenant{Home: t.HomeRegion, Allowed: t.AllowedRegions}
}

// Tenant returns the tenant with id, or nil.
func (c *Config) Tenant(id string) *Tenant {
	for i := range c.Tenants {
		if c.Tenants[i].ID == id {
			return &c.Tenants[i]
		}
	}
	return nil
}

// ServedHere reports whether this node serves tenant t: its home region is
// the node's, or the deployment declares no regions. A node reads the
// secrets, builds the audit sinks and reaches the sources of the tenants
// it serves, and of no other.
func (c *Config) ServedHere(t *Tenant) bool {
	return residency.Decide(c.Node.Region, t.HomeRegion, residency.Redirect, false) == residency.Serve
}

// MisdirectedMode is the parsed misdirected setting (redirect by default).
func (c *Config) MisdirectedMode() residency.Mode {
	m, _ := residency.ParseMode(c.Misdirected)
	return m
}

// applyRegionDefaults places a connection, webhook or syslog sink that names
// no region in its tenant's home region.
func (c *Config) applyRegionDefaults() {
	home := map[string]string{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if _, dup := home[t.ID]; !dup {
			home[t.ID] = t.HomeRegion
		}
		for j := range t.Audit.Sinks {
			if sk := &t.Audit.Sinks[j]; sk.Region == "" && (sk.Kind == AuditSinkWebhook || sk.Kind == AuditSinkSyslog) {
				sk.Region = t.HomeRegion
			}
		}
	}
	for i := range c.Connections {
		if cn := &c.Connections[i]; cn.Region == "" {
			cn.Region = home[cn.Tenant]
		}
	}
}

// residency checks the region rules (docs/residency.md): the regions
// themselves, this node's region, and that everything of a tenant's (its
// sources, its secrets, its audit sinks) sits in the tenant's regions. A
// config that passes cannot send a tenant's data anywhere else.
func (v *validator) residency(c *Config) {
	if _, err := residency.ParseMode(c.Misdirected); err != nil {
		v.add("$.misdirected", err.Error())
	}
	if !c.ResidencyEnabled() {
		if !c.DevMode {
			v.add("$.regions", "required: at least this node's region (name, endpoint); see docs/residency.md")
		}
		v.noRegions(c)
		return
	}
	names := map[string]bool{}
	awsOwner := map[string]string{}
	for i, r := range c.Regions {
		at := fmt.Sprintf("$.regions[%d]", i)
		if !residency.ValidName(r.Name) {
			v.add(at+".name", "must match [a-z0-9][a-z0-9_-]{0,62}")
		} else if names[r.Name] {
			v.add(at+".name", fmt.Sprintf("region %q listed twice", r.Name))
		}
		names[r.Name] = true
		if r.Endpoint == "" {
			v.add(at+".endpoint", "required: the region's public https URL")
		} else if err := residency.CheckEndpoint(r.Endpoint, c.DevMode); err != nil {
			v.add(at+".endpoint", strings.TrimPrefix(err.Error(), residency.ErrEndpoint.Error()+": "))
		}
		own := slices.Clone(r.AWSRegions)
		if awssm.ValidRegion(r.Name) {
			own = append(own, r.Name)
		}
		for j, a := range r.AWSRegions {
			if !awssm.ValidRegion(a) {
				v.add(fmt.Sprintf("%s.aws_regions[%d]", at, j), "must be an AWS region such as eu-west-1")
			}
		}
		for _, a := range own {
			if o, dup := awsOwner[a]; dup && o != r.Name {
				v.add(at+".aws_regions", fmt.Sprintf("AWS region %q already lies in region %q", a, o))
			} else {
				awsOwner[a] = r.Name
			}
		}
	}
	if !names[c.Node.Region] {
		v.add("$.node.region", fmt.Sprintf("no region %q in regions", c.Node.Region))
	}

	// awsIn checks where an AWS region lies.
	// Each check is skipped for a tenant without a usable home region,
	// which is reported once, at its home_region.
	awsIn := func(path, what, aws string, t residency.Tenant) {
		r, ok := awsOwner[aws]
		switch {
		case aws == "" || t.Home == "":
		case !ok:
			v.add(path, fmt.Sprintf("%s: AWS region %q lies in no declared region (add it to a region's aws_regions)", what, aws))
		case !t.Allows(r):
			v.add(path, fmt.Sprintf("%s: AWS region %q lies in region %q, outside the tenant's regions %v", what, aws, r, t.Regions()))
		}
	}
	// ferryIn checks a region name given for something of a tenant's.
	ferryIn := func(path, what, region string, t residency.Tenant) {
		switch {
		case t.Home == "":
		case region == "":
			v.add(path, fmt.Sprintf("required: the region where the %s runs (one of %v)", what, t.Regions()))
		case !names[region]:
			v.add(path, fmt.Sprintf("no region %q in regions", region))
		case !t.Allows(region):
			v.add(path, fmt.Sprintf("region %q is outside the tenant's regions %v", region, t.Regions()))
		}
	}
	// arnIn checks the region inside a secret ARN (the reference fields
	// of an aws tenant). A malformed ARN is reported by the secrets rules.
	arnIn := func(path, ref string, t residency.Tenant) {
		if !strings.HasPrefix(ref, "arn:") {
			return
		}
		if r, err := awssm.ParseRef(ref); err == nil {
			awsIn(path, "secret", r.Region, t)
		}
	}

	placement := map[string]residency.Tenant{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		at := fmt.Sprintf("$.tenants[%d]", i)
		p := t.Placement()
		switch {
		case t.HomeRegion == "":
			v.add(at+".home_region", "required: the region whose nodes serve the tenant")
		case !names[t.HomeRegion]:
			v.add(at+".home_region", fmt.Sprintf("no region %q in regions", t.HomeRegion))
			p.Home = ""
		}
		seen := map[string]bool{}
		for j, r := range t.AllowedRegions {
			jp := fmt.Sprintf("%s.allowed_regions[%d]", at, j)
			switch {
			case !names[r]:
				v.add(jp, fmt.Sprintf("no region %q in regions", r))
			case seen[r]:
				v.add(jp, fmt.Sprintf("region %q listed twice", r))
			}
			seen[r] = true
		}
		if _, dup := placement[t.ID]; !dup {
			placement[t.ID] = p
		}
		if t.Secrets.Provider == SecretsAWS {
			awsIn(at+".secrets.region", "secrets", t.Secrets.Region, p)
		}
		arnIn(at+".audit.key_ref", t.Audit.KeyRef, p)
		arnIn(at+".audit.signing_key_ref", t.Audit.SigningKeyRef, p)
		for j, sk := range t.Audit.Sinks {
			sp := fmt.Sprintf("%s.audit.sinks[%d]", at, j)
			switch sk.Kind {
			case AuditSinkCloudWatch, AuditSinkFirehose, AuditSinkS3:
				awsIn(sp+".region", "audit sink", sk.Region, p)
			case AuditSinkWebhook, AuditSinkSyslog:
				ferryIn(sp+".region", "audit receiver", sk.Region, p)
			}
			arnIn(sp+".hmac_key_ref", sk.HMACKeyRef, p)
		}
	}
	for i, cn := range c.Connections {
		at := fmt.Sprintf("$.connections[%d]", i)
		p, ok := placement[cn.Tenant]
		if !ok {
			continue // reported as an unknown tenant
		}
		ferryIn(at+".region", "source", cn.Region, p)
		arnIn(at+".auth.secret_ref", cn.Auth.SecretRef, p)
	}
}

// noRegions refuses region fields in a deployment that declares no
// regions: they would promise a residency nothing enforces.
func (v *validator) noRegions(c *Config) {
	const msg = "set, but the config declares no regions"
	for i, t := range c.Tenants {
		at := fmt.Sprintf("$.tenants[%d]", i)
		if t.HomeRegion != "" {
			v.add(at+".home_region", msg)
		}
		if len(t.AllowedRegions) > 0 {
			v.add(at+".allowed_regions", msg)
		}
		for j, sk := range t.Audit.Sinks {
			if sk.Region != "" && (sk.Kind == AuditSinkWebhook || sk.Kind == AuditSinkSyslog) {
				v.add(fmt.Sprintf("%s.audit.sinks[%d].region", at, j), msg)
			}
		}
	}
	for i, cn := range c.Connections {
		if cn.Region != "" {
			v.add(fmt.Sprintf("$.connections[%d].region", i), msg)
		}
	}
	if c.MisdirectedMode() == residency.Forward {
		v.add("$.misdirected", "forward needs regions to forward to")
	}
}
