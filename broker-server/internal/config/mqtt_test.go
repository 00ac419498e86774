package config

import (
	"testing"
	"time"
)

func TestMQTTTable(t *testing.T) {
	// The shipped file spells out the defaults.
	if c := load(t, repoConfig(t, "broker-server.toml")); c.MQTT != DefaultMQTT() {
		t.Fatalf("broker-server.toml [mqtt] %+v, defaults %+v", c.MQTT, DefaultMQTT())
	}
	// Environment overrides.
	t.Setenv("ROBUSTMQ_BROKER_MQTT_RESPONSE_INFORMATION", "rr/")
	t.Setenv("ROBUSTMQ_BROKER_MQTT_OUTBOUND_TOPIC_ALIAS_MAXIMUM", "0")
	t.Setenv("ROBUSTMQ_BROKER_MQTT_SYS_INTERVAL", "0s")
	if c := load(t, repoConfig(t, "broker-server.toml")); c.MQTT != (MQTTConfig{ResponseInformation: "rr/"}) {
		t.Fatalf("env overrides: %+v", c.MQTT)
	}
	for _, bad := range []MQTTConfig{{OutboundTopicAliasMaximum: -1}, {OutboundTopicAliasMaximum: 65536},
		{SysInterval: -time.Second}, {SysInterval: time.Millisecond}} {
		c := Default()
		c.MQTT = bad
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
