package config

import (
	"errors"
	"time"
)

// KafkaConfig tunes the Kafka front end (its listener is
// listeners.kafka).
type KafkaConfig struct {
	// Tenant whose streams the Kafka listener serves as topics.
	Tenant string `mapstructure:"tenant"`
	// AutoCreateTopics creates a topic a client's Metadata request names.
	AutoCreateTopics bool `mapstructure:"auto_create_topics"`
	// DefaultPartitions is the partition count of auto-created topics and
	// of CreateTopics with num_partitions -1.
	DefaultPartitions int `mapstructure:"default_partitions"`
	// DefaultReplicas is their replica count (0: the placement center's).
	DefaultReplicas uint32 `mapstructure:"default_replicas"`
	// MaxMessageBytes bounds one produced record batch.
	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	// GroupInitialRebalanceDelay: how long the first rebalance of an empty
	// group waits for more members.
	GroupInitialRebalanceDelay time.Duration `mapstructure:"group_initial_rebalance_delay"`
	// SASL makes every Kafka connection authenticate (SASL PLAIN or
	// SCRAM-SHA-256) as a user of Tenant before anything else.
	SASL bool `mapstructure:"sasl"`
}

func (k KafkaConfig) validate() error {
	switch {
	case k.Tenant == "":
		return errors.New("kafka.tenant must be set")
	case k.DefaultPartitions < 1 || k.DefaultPartitions > 4096:
		return errors.New("kafka.default_partitions must be in [1, 4096]")
	case k.MaxMessageBytes < 1024:
		return errors.New("kafka.max_message_bytes must be at least 1024")
	case k.GroupInitialRebalanceDelay < 0:
		return errors.New("kafka.group_initial_rebalance_delay must not be negative")
	}
	return nil
}
