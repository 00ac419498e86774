package apidoc

import (
	"slices"
	"strings"
)

// Layout returns the processes of RobustMQ-Go as docs/admin-api.md lists
// them: their services, the configs that set their gRPC port, and grpcurl
// examples (checked against the descriptors when rendered). Addrs is left
// for the caller to fill from the configs.
func Layout() []Process {
	return []Process{
		{
			Name:    "placement-center",
			Configs: []string{"config/placement-center.toml", "config/raft/node-1.toml", "config/raft/node-2.toml", "config/raft/node-3.toml"},
			Services: []string{"robustmq.placement.v1.PlacementService", "robustmq.placement.v1.ClusterService",
				"robustmq.placement.v1.RaftTransport"},
			Examples: []Example{
				{Title: "this member's view of the Raft group (any member answers)", Method: "robustmq.placement.v1.ClusterService/Status"},
				{Title: "the brokers, their listeners (extraAddrs) and status", Method: "robustmq.placement.v1.PlacementService/ListNodes",
					Request: `{"kind": "NODE_KIND_BROKER"}`},
				{Title: "drain node 3 (UndrainNode takes it back)", Method: "robustmq.placement.v1.PlacementService/DrainNode",
					Request: `{"nodeId": "3"}`},
				{Title: "tenant default's MQTT session records (values: robustmq.broker.v1.MqttSession, base64)",
					Method: "robustmq.placement.v1.PlacementService/ListKV", Request: `{"prefix": "mqtt/default/sessions/"}`},
				{Title: "create a tenant", Method: "robustmq.placement.v1.PlacementService/CreateTenant", Request: `{"name": "acme"}`},
				{Title: "partition 0 of stream orders: its shard and segments", Method: "robustmq.placement.v1.PlacementService/GetShard",
					Request: `{"tenant": "default", "name": "orders/0"}`},
				{Title: "follow node changes (streams until interrupted)", Method: "robustmq.placement.v1.PlacementService/Watch",
					Request: `{"kinds": ["RESOURCE_KIND_NODE"]}`},
			},
		},
		{
			Name:     "journal-server",
			Configs:  []string{"config/journal-server.toml", "config/journal/node-1.toml", "config/journal/node-2.toml", "config/journal/node-3.toml"},
			Services: []string{"robustmq.journal.v1.JournalService"},
			Examples: []Example{
				{Title: "one replica's state of segment 0 of shard orders/0 (log end, LAC, epoch)", Method: "robustmq.journal.v1.JournalService/Describe",
					Request: `{"segment": {"tenant": "default", "shard": "orders/0", "seq": 0}}`},
			},
		},
		{
			Name:     "broker-server",
			Configs:  []string{"config/broker-server.toml", "config/broker/node-1.toml", "config/broker/node-2.toml"},
			Services: []string{"robustmq.broker.v1.BrokerInternal"},
		},
	}
}

// DocFiles picks the files to document from every file of a descriptor
// set: the project's own (under robustmq/), in the reference's order, any
// file the order does not know appended in name order.
func DocFiles(all []string) []string {
	// The operator's API first, the internal Raft commands last.
	fileOrder := []string{
		"robustmq/placement/v1/placement.proto",
		"robustmq/placement/v1/cluster.proto",
		"robustmq/placement/v1/types.proto",
		"robustmq/journal/v1/journal.proto",
		"robustmq/broker/v1/broker.proto",
		"robustmq/common/v1/errors.proto",
		"robustmq/placement/v1/command.proto",
	}
	var known, other []string
	for _, f := range fileOrder {
		if slices.Contains(all, f) {
			known = append(known, f)
		}
	}
	for _, f := range all {
		if strings.HasPrefix(f, "robustmq/") && !slices.Contains(fileOrder, f) {
			other = append(other, f)
		}
	}
	slices.Sort(other)
	return append(known, other...)
}
