package config

import (
	"errors"
	"time"
)

// ---- MQTT protocol options (the [mqtt] table). Kept apart from the rest
// of the configuration: read only by the MQTT front end (internal/mqtt).

// MQTTConfig holds MQTT protocol options that are not limits.
type MQTTConfig struct {
	// ResponseInformation is the prefix of the Response Information an
	// MQTT 5 client gets in CONNACK when it sets Request Response
	// Information: the prefix followed by its client id, e.g.
	// "response/sensor-1" (MQTT 5.0 section 4.10). Empty: never sent.
	ResponseInformation string `mapstructure:"response_information"`
	// OutboundTopicAliasMaximum caps the topic aliases the broker assigns
	// to one MQTT 5 client (also bounded by the client's Topic Alias
	// Maximum); 0: the broker sends no aliases.
	OutboundTopicAliasMaximum int `mapstructure:"outbound_topic_alias_maximum"`
	// SysInterval is how often the broker statistics are published as
	// retained messages under $SYS/brokers/{node id}/ (0s: never).
	SysInterval time.Duration `mapstructure:"sys_interval"`
}

// DefaultMQTT is the [mqtt] table's defaults.
func DefaultMQTT() MQTTConfig {
	return MQTTConfig{ResponseInformation: "response/", OutboundTopicAliasMaximum: 64, SysInterval: 10 * time.Second}
}

func (m MQTTConfig) validate() error {
	switch {
	case m.OutboundTopicAliasMaximum < 0 || m.OutboundTopicAliasMaximum > maxUint16:
		return errors.New("mqtt.outbound_topic_alias_maximum must be in [0, 65535]")
	case m.SysInterval < 0 || (m.SysInterval > 0 && m.SysInterval < time.Second):
		return errors.New("mqtt.sys_interval must be 0s (off) or at least 1s")
	}
	return nil
}
