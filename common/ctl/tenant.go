package ctl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func tenantCmd(e *env) *cobra.Command {
	c := group("tenant", "Tenants: isolated namespaces (\"default\" always exists)", "  robustctl tenant create acme")
	row := func(t *placementpb.Tenant) []string { return []string{t.GetName(), ms(t.GetCreatedAtMs())} }
	c.AddCommand(&cobra.Command{
		Use: "create NAME", Short: "Create a tenant", Example: "  robustctl tenant create acme", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.CreateTenant(ctx, &placementpb.CreateTenantRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return show(e, []*placementpb.Tenant{resp.GetTenant()}, true, []string{"NAME", "CREATED"}, row)
		},
	}, &cobra.Command{
		Use: "list", Short: "List tenants", Example: "  robustctl tenant list -o json", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListTenants(ctx, &placementpb.ListTenantsRequest{})
			if err != nil {
				return err
			}
			return show(e, resp.GetTenants(), false, []string{"NAME", "CREATED"}, row)
		},
	}, &cobra.Command{
		Use: "delete NAME", Short: "Delete an empty tenant", Example: "  robustctl tenant delete acme", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			if _, err := api.DeleteTenant(ctx, &placementpb.DeleteTenantRequest{Name: args[0]}); err != nil {
				return err
			}
			return done(e, "deleted tenant "+args[0])
		},
	})
	return c
}

func userCmd(e *env) *cobra.Command {
	c := group("user", "Users (passwords stored as salted hashes)", "  robustctl user create alice --password s3cret")
	var password string
	var superuser bool
	row := func(u *placementpb.User) []string {
		return []string{u.GetTenant(), u.GetUsername(), strconv.FormatBool(u.GetSuperuser()), ms(u.GetCreatedAtMs())}
	}
	header := []string{"TENANT", "USERNAME", "SUPERUSER", "CREATED"}
	hide := func(us []*placementpb.User) []*placementpb.User {
		for _, u := range us {
			u.Salt, u.PasswordHash = nil, nil
		}
		return us
	}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a user", Example: "  robustctl user create alice --password s3cret --tenant acme",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.CreateUser(ctx, &placementpb.CreateUserRequest{Tenant: tenantOf(cmd), Username: args[0], Password: password, Superuser: superuser})
			if err != nil {
				return err
			}
			return show(e, hide([]*placementpb.User{resp.GetUser()}), true, header, row)
		},
	}
	create.Flags().StringVar(&password, "password", "", "the user's password (required)")
	create.Flags().BoolVar(&superuser, "superuser", false, "grant every permission")
	_ = create.MarkFlagRequired("password")
	list := &cobra.Command{
		Use: "list", Short: "List a tenant's users (hashes are never shown)", Example: "  robustctl user list --tenant acme", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListUsers(ctx, &placementpb.ListUsersRequest{Tenant: tenantOf(cmd)})
			if err != nil {
				return err
			}
			return show(e, hide(resp.GetUsers()), false, header, row)
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user", Example: "  robustctl user delete alice", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			if _, err := api.DeleteUser(ctx, &placementpb.DeleteUserRequest{Tenant: tenantOf(cmd), Username: args[0]}); err != nil {
				return err
			}
			return done(e, "deleted user "+args[0])
		},
	}
	for _, sub := range []*cobra.Command{create, list, del} {
		addTenantFlag(sub, "default", "tenant")
		c.AddCommand(sub)
	}
	return c
}

func aclCmd(e *env) *cobra.Command {
	c := group("acl", "Access control rules", "  robustctl acl create --principal alice --resource-type topic --resource 'sensors/#' --action publish --permission allow")
	var principal, rtype, resource, action, permission string
	row := func(r *placementpb.AclRule) []string {
		return []string{u64(r.GetId()), r.GetPrincipal(), r.GetResourceType(), r.GetResource(),
			enumName(r.GetAction().String(), "ACL_ACTION_"), enumName(r.GetPermission().String(), "ACL_PERMISSION_")}
	}
	header := []string{"ID", "PRINCIPAL", "TYPE", "RESOURCE", "ACTION", "PERMISSION"}
	create := &cobra.Command{
		Use: "create", Short: "Add a rule",
		Example: "  robustctl acl create --principal '*' --resource-type topic --resource 'public/#' --action subscribe --permission allow",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, ok := placementpb.AclAction_value["ACL_ACTION_"+strings.ToUpper(action)]
			if !ok || a == 0 {
				return fmt.Errorf("--action must be publish, subscribe, read, write, admin or all, not %q", action)
			}
			p, ok := placementpb.AclPermission_value["ACL_PERMISSION_"+strings.ToUpper(permission)]
			if !ok || p == 0 {
				return fmt.Errorf("--permission must be allow or deny, not %q", permission)
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.CreateAcl(ctx, &placementpb.CreateAclRequest{Rule: &placementpb.AclRule{Tenant: tenantOf(cmd), Principal: principal,
				ResourceType: rtype, Resource: resource, Action: placementpb.AclAction(a), Permission: placementpb.AclPermission(p)}})
			if err != nil {
				return err
			}
			return show(e, []*placementpb.AclRule{resp.GetRule()}, true, header, row)
		},
	}
	f := create.Flags()
	f.StringVar(&principal, "principal", "", "username, or * for everyone")
	f.StringVar(&rtype, "resource-type", "topic", "what the resource names: topic, stream, ...")
	f.StringVar(&resource, "resource", "", "resource pattern, e.g. an MQTT topic filter")
	f.StringVar(&action, "action", "", "publish, subscribe, read, write, admin or all")
	f.StringVar(&permission, "permission", "", "allow or deny")
	list := &cobra.Command{
		Use: "list", Short: "List a tenant's rules", Example: "  robustctl acl list --tenant acme", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListAcls(ctx, &placementpb.ListAclsRequest{Tenant: tenantOf(cmd)})
			if err != nil {
				return err
			}
			return show(e, resp.GetRules(), false, header, row)
		},
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a rule by id", Example: "  robustctl acl delete 3", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("rule id %q: %w", args[0], err)
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			if _, err := api.DeleteAcl(ctx, &placementpb.DeleteAclRequest{Tenant: tenantOf(cmd), Id: id}); err != nil {
				return err
			}
			return done(e, "deleted rule "+args[0])
		},
	}
	for _, sub := range []*cobra.Command{create, list, del} {
		addTenantFlag(sub, "default", "tenant")
		c.AddCommand(sub)
	}
	return c
}

// addTenantFlag gives cmd its own --tenant flag, read back with tenantOf.
// Commands must not share one variable for it: pflag writes each
// registration's default into the variable, so the last registration's
// default would silently become every command's.
func addTenantFlag(cmd *cobra.Command, def, usage string) {
	cmd.Flags().String("tenant", def, usage)
}

// tenantOf returns cmd's --tenant. GetString fails only for a command
// without the flag, a wiring mistake TestTenantFlagReachesTheRequest
// catches for every command that uses it.
func tenantOf(cmd *cobra.Command) string {
	t, _ := cmd.Flags().GetString("tenant")
	return t
}
