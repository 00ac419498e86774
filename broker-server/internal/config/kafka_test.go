package config

import "testing"

// TestShippedKafkaKeys: the shipped files carry the Kafka listener (9092,
// 2092 on the second cluster broker) and the [kafka] keys at their
// defaults.
func TestShippedKafkaKeys(t *testing.T) {
	want := map[string]string{
		"broker-server.toml": "127.0.0.1:9092",
		"broker/node-1.toml": "127.0.0.1:9092",
		"broker/node-2.toml": "127.0.0.1:2092",
	}
	for file, addr := range want {
		c := load(t, repoConfig(t, file))
		if c.Listeners.Kafka.Addr != addr {
			t.Errorf("%s: listeners.kafka.addr %q, want %q", file, c.Listeners.Kafka.Addr, addr)
		}
		if c.Kafka != Default().Kafka {
			t.Errorf("%s: kafka %+v differs from the defaults %+v", file, c.Kafka, Default().Kafka)
		}
	}
}

func TestKafkaOverride(t *testing.T) {
	t.Setenv("ROBUSTMQ_BROKER_KAFKA_DEFAULT_PARTITIONS", "3")
	t.Setenv("ROBUSTMQ_BROKER_KAFKA_AUTO_CREATE_TOPICS", "false")
	c := load(t, repoConfig(t, "broker-server.toml"), "--kafka-addr", "127.0.0.1:19092")
	if c.Kafka.DefaultPartitions != 3 || c.Kafka.AutoCreateTopics || c.Listeners.Kafka.Addr != "127.0.0.1:19092" {
		t.Fatalf("overrides not applied: %+v %+v", c.Kafka, c.Listeners.Kafka)
	}
}
