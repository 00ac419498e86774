package wire

// This file holds the request and response bodies of every supported API.
// Field presence per version follows the Apache Kafka message definitions;
// each struct's codec method is the one place that lists its fields.

// ---- ApiVersions (18) ----

type ApiVersionsRequest struct {
	ClientSoftwareName    string
	ClientSoftwareVersion string
	Tags                  Tags
}

func (m *ApiVersionsRequest) codec(c *coder, v int16) {
	if v >= 3 {
		c.str(&m.ClientSoftwareName)
		c.str(&m.ClientSoftwareVersion)
	}
	c.tags(&m.Tags)
}

type ApiVersionsKey struct {
	ApiKey     int16
	MinVersion int16
	MaxVersion int16
	Tags       Tags
}

type ApiVersionsResponse struct {
	ErrorCode      int16
	ApiKeys        []ApiVersionsKey
	ThrottleMillis int32
	Tags           Tags
}

func (m *ApiVersionsResponse) codec(c *coder, v int16) {
	c.i16(&m.ErrorCode)
	array(c, &m.ApiKeys, 6, func(c *coder, k *ApiVersionsKey) {
		c.i16(&k.ApiKey)
		c.i16(&k.MinVersion)
		c.i16(&k.MaxVersion)
		c.tags(&k.Tags)
	})
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.tags(&m.Tags)
}

// ---- Metadata (3) ----

type MetadataRequestTopic struct {
	TopicID [16]byte
	Topic   *string
	Tags    Tags
}

type MetadataRequest struct {
	// Topics nil means all topics (v1+; v0 has no null and an empty list
	// means all).
	Topics                             []MetadataRequestTopic
	AllowAutoTopicCreation             bool
	IncludeClusterAuthorizedOperations bool
	IncludeTopicAuthorizedOperations   bool
	Tags                               Tags
}

func (m *MetadataRequest) codec(c *coder, v int16) {
	f := func(c *coder, t *MetadataRequestTopic) {
		if v >= 10 {
			c.uuid(&t.TopicID)
			c.nstr(&t.Topic)
		} else {
			if !c.dec && t.Topic == nil {
				empty := ""
				c.str(&empty)
			} else {
				var s string
				if !c.dec {
					s = *t.Topic
				}
				c.str(&s)
				if c.dec {
					t.Topic = &s
				}
			}
		}
		c.tags(&t.Tags)
	}
	if v >= 1 {
		narray(c, &m.Topics, 1, f)
	} else {
		array(c, &m.Topics, 1, f)
	}
	if v >= 4 {
		c.boolean(&m.AllowAutoTopicCreation)
	} else if c.dec {
		m.AllowAutoTopicCreation = true
	}
	if v >= 8 && v <= 10 {
		c.boolean(&m.IncludeClusterAuthorizedOperations)
	}
	if v >= 8 {
		c.boolean(&m.IncludeTopicAuthorizedOperations)
	}
	c.tags(&m.Tags)
}

type MetadataBroker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
	Tags   Tags
}

type MetadataPartition struct {
	ErrorCode       int16
	Partition       int32
	Leader          int32
	LeaderEpoch     int32
	Replicas        []int32
	ISR             []int32
	OfflineReplicas []int32
	Tags            Tags
}

type MetadataTopic struct {
	ErrorCode            int16
	Topic                *string
	TopicID              [16]byte
	IsInternal           bool
	Partitions           []MetadataPartition
	AuthorizedOperations int32
	Tags                 Tags
}

type MetadataResponse struct {
	ThrottleMillis       int32
	Brokers              []MetadataBroker
	ClusterID            *string
	ControllerID         int32
	Topics               []MetadataTopic
	AuthorizedOperations int32
	Tags                 Tags
}

func (m *MetadataResponse) codec(c *coder, v int16) {
	if v >= 3 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Brokers, 10, func(c *coder, b *MetadataBroker) {
		c.i32(&b.NodeID)
		c.str(&b.Host)
		c.i32(&b.Port)
		if v >= 1 {
			c.nstr(&b.Rack)
		}
		c.tags(&b.Tags)
	})
	if v >= 2 {
		c.nstr(&m.ClusterID)
	}
	if v >= 1 {
		c.i32(&m.ControllerID)
	}
	array(c, &m.Topics, 4, func(c *coder, t *MetadataTopic) {
		c.i16(&t.ErrorCode)
		if v >= 12 {
			c.nstr(&t.Topic)
		} else {
			var s string
			if !c.dec && t.Topic != nil {
				s = *t.Topic
			}
			c.str(&s)
			if c.dec {
				t.Topic = &s
			}
		}
		if v >= 10 {
			c.uuid(&t.TopicID)
		}
		if v >= 1 {
			c.boolean(&t.IsInternal)
		}
		array(c, &t.Partitions, 10, func(c *coder, p *MetadataPartition) {
			c.i16(&p.ErrorCode)
			c.i32(&p.Partition)
			c.i32(&p.Leader)
			if v >= 7 {
				c.i32(&p.LeaderEpoch)
			}
			i32s(c, &p.Replicas)
			i32s(c, &p.ISR)
			if v >= 5 {
				i32s(c, &p.OfflineReplicas)
			}
			c.tags(&p.Tags)
		})
		if v >= 8 {
			c.i32(&t.AuthorizedOperations)
		}
		c.tags(&t.Tags)
	})
	if v >= 8 && v <= 10 {
		c.i32(&m.AuthorizedOperations)
	}
	c.tags(&m.Tags)
}

// ---- Produce (0) ----

type ProducePartition struct {
	Partition int32
	Records   []byte
	Tags      Tags
}

type ProduceTopic struct {
	Topic      string
	Partitions []ProducePartition
	Tags       Tags
}

type ProduceRequest struct {
	TransactionalID *string
	Acks            int16
	TimeoutMillis   int32
	Topics          []ProduceTopic
	Tags            Tags
}

func (m *ProduceRequest) codec(c *coder, v int16) {
	if v >= 3 {
		c.nstr(&m.TransactionalID)
	}
	c.i16(&m.Acks)
	c.i32(&m.TimeoutMillis)
	array(c, &m.Topics, 2, func(c *coder, t *ProduceTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 5, func(c *coder, p *ProducePartition) {
			c.i32(&p.Partition)
			c.nbytes(&p.Records)
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

type ProduceErrorRecord struct {
	RelativeOffset int32
	ErrorMessage   *string
	Tags           Tags
}

type ProduceResponsePartition struct {
	Partition      int32
	ErrorCode      int16
	BaseOffset     int64
	LogAppendTime  int64
	LogStartOffset int64
	ErrorRecords   []ProduceErrorRecord
	ErrorMessage   *string
	Tags           Tags
}

type ProduceResponseTopic struct {
	Topic      string
	Partitions []ProduceResponsePartition
	Tags       Tags
}

type ProduceResponse struct {
	Topics         []ProduceResponseTopic
	ThrottleMillis int32
	Tags           Tags
}

func (m *ProduceResponse) codec(c *coder, v int16) {
	array(c, &m.Topics, 2, func(c *coder, t *ProduceResponseTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 14, func(c *coder, p *ProduceResponsePartition) {
			c.i32(&p.Partition)
			c.i16(&p.ErrorCode)
			c.i64(&p.BaseOffset)
			if v >= 2 {
				c.i64(&p.LogAppendTime)
			}
			if v >= 5 {
				c.i64(&p.LogStartOffset)
			}
			if v >= 8 {
				array(c, &p.ErrorRecords, 4, func(c *coder, e *ProduceErrorRecord) {
					c.i32(&e.RelativeOffset)
					c.nstr(&e.ErrorMessage)
					c.tags(&e.Tags)
				})
				c.nstr(&p.ErrorMessage)
			}
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.tags(&m.Tags)
}

// ---- Fetch (1) ----

type FetchPartition struct {
	Partition          int32
	CurrentLeaderEpoch int32
	FetchOffset        int64
	LastFetchedEpoch   int32
	LogStartOffset     int64
	PartitionMaxBytes  int32
	Tags               Tags
}

type FetchTopic struct {
	Topic      string
	Partitions []FetchPartition
	Tags       Tags
}

type ForgottenTopic struct {
	Topic      string
	Partitions []int32
	Tags       Tags
}

type FetchRequest struct {
	ReplicaID       int32
	MaxWaitMillis   int32
	MinBytes        int32
	MaxBytes        int32
	IsolationLevel  int8
	SessionID       int32
	SessionEpoch    int32
	Topics          []FetchTopic
	ForgottenTopics []ForgottenTopic
	Rack            string
	Tags            Tags
}

func (m *FetchRequest) codec(c *coder, v int16) {
	c.i32(&m.ReplicaID)
	c.i32(&m.MaxWaitMillis)
	c.i32(&m.MinBytes)
	if v >= 3 {
		c.i32(&m.MaxBytes)
	} else if c.dec {
		m.MaxBytes = 0x7fffffff
	}
	if v >= 4 {
		c.i8(&m.IsolationLevel)
	}
	if v >= 7 {
		c.i32(&m.SessionID)
		c.i32(&m.SessionEpoch)
	} else if c.dec {
		m.SessionEpoch = -1
	}
	array(c, &m.Topics, 2, func(c *coder, t *FetchTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 16, func(c *coder, p *FetchPartition) {
			c.i32(&p.Partition)
			if v >= 9 {
				c.i32(&p.CurrentLeaderEpoch)
			}
			c.i64(&p.FetchOffset)
			if v >= 12 {
				c.i32(&p.LastFetchedEpoch)
			}
			if v >= 5 {
				c.i64(&p.LogStartOffset)
			}
			c.i32(&p.PartitionMaxBytes)
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	if v >= 7 {
		array(c, &m.ForgottenTopics, 2, func(c *coder, t *ForgottenTopic) {
			c.str(&t.Topic)
			i32s(c, &t.Partitions)
			c.tags(&t.Tags)
		})
	}
	if v >= 11 {
		c.str(&m.Rack)
	}
	c.tags(&m.Tags)
}

type AbortedTransaction struct {
	ProducerID  int64
	FirstOffset int64
	Tags        Tags
}

type FetchResponsePartition struct {
	Partition            int32
	ErrorCode            int16
	HighWatermark        int64
	LastStableOffset     int64
	LogStartOffset       int64
	AbortedTransactions  []AbortedTransaction
	PreferredReadReplica int32
	RecordBatches        []byte
	Tags                 Tags
}

type FetchResponseTopic struct {
	Topic      string
	Partitions []FetchResponsePartition
	Tags       Tags
}

type FetchResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	SessionID      int32
	Topics         []FetchResponseTopic
	Tags           Tags
}

func (m *FetchResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	if v >= 7 {
		c.i16(&m.ErrorCode)
		c.i32(&m.SessionID)
	}
	array(c, &m.Topics, 2, func(c *coder, t *FetchResponseTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 18, func(c *coder, p *FetchResponsePartition) {
			c.i32(&p.Partition)
			c.i16(&p.ErrorCode)
			c.i64(&p.HighWatermark)
			if v >= 4 {
				c.i64(&p.LastStableOffset)
			}
			if v >= 5 {
				c.i64(&p.LogStartOffset)
			}
			if v >= 4 {
				narray(c, &p.AbortedTransactions, 16, func(c *coder, a *AbortedTransaction) {
					c.i64(&a.ProducerID)
					c.i64(&a.FirstOffset)
					c.tags(&a.Tags)
				})
			}
			if v >= 11 {
				c.i32(&p.PreferredReadReplica)
			}
			c.nbytes(&p.RecordBatches)
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

// ---- ListOffsets (2) ----

type ListOffsetsPartition struct {
	Partition          int32
	CurrentLeaderEpoch int32
	Timestamp          int64
	MaxNumOffsets      int32
	Tags               Tags
}

type ListOffsetsTopic struct {
	Topic      string
	Partitions []ListOffsetsPartition
	Tags       Tags
}

type ListOffsetsRequest struct {
	ReplicaID      int32
	IsolationLevel int8
	Topics         []ListOffsetsTopic
	Tags           Tags
}

func (m *ListOffsetsRequest) codec(c *coder, v int16) {
	c.i32(&m.ReplicaID)
	if v >= 2 {
		c.i8(&m.IsolationLevel)
	}
	array(c, &m.Topics, 2, func(c *coder, t *ListOffsetsTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 12, func(c *coder, p *ListOffsetsPartition) {
			c.i32(&p.Partition)
			if v >= 4 {
				c.i32(&p.CurrentLeaderEpoch)
			}
			c.i64(&p.Timestamp)
			if v == 0 {
				c.i32(&p.MaxNumOffsets)
			}
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

type ListOffsetsResponsePartition struct {
	Partition       int32
	ErrorCode       int16
	OldStyleOffsets []int64
	Timestamp       int64
	Offset          int64
	LeaderEpoch     int32
	Tags            Tags
}

type ListOffsetsResponseTopic struct {
	Topic      string
	Partitions []ListOffsetsResponsePartition
	Tags       Tags
}

type ListOffsetsResponse struct {
	ThrottleMillis int32
	Topics         []ListOffsetsResponseTopic
	Tags           Tags
}

func (m *ListOffsetsResponse) codec(c *coder, v int16) {
	if v >= 2 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Topics, 2, func(c *coder, t *ListOffsetsResponseTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 6, func(c *coder, p *ListOffsetsResponsePartition) {
			c.i32(&p.Partition)
			c.i16(&p.ErrorCode)
			if v == 0 {
				i64s(c, &p.OldStyleOffsets)
			}
			if v >= 1 {
				c.i64(&p.Timestamp)
				c.i64(&p.Offset)
			}
			if v >= 4 {
				c.i32(&p.LeaderEpoch)
			}
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

// ---- FindCoordinator (10) ----

type FindCoordinatorRequest struct {
	CoordinatorKey  string
	CoordinatorType int8
	Tags            Tags
}

func (m *FindCoordinatorRequest) codec(c *coder, v int16) {
	c.str(&m.CoordinatorKey)
	if v >= 1 {
		c.i8(&m.CoordinatorType)
	}
	c.tags(&m.Tags)
}

type FindCoordinatorResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	ErrorMessage   *string
	NodeID         int32
	Host           string
	Port           int32
	Tags           Tags
}

func (m *FindCoordinatorResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.i16(&m.ErrorCode)
	if v >= 1 {
		c.nstr(&m.ErrorMessage)
	}
	c.i32(&m.NodeID)
	c.str(&m.Host)
	c.i32(&m.Port)
	c.tags(&m.Tags)
}

// ---- JoinGroup (11) ----

type JoinGroupProtocol struct {
	Name     string
	Metadata []byte
	Tags     Tags
}

type JoinGroupRequest struct {
	Group                  string
	SessionTimeoutMillis   int32
	RebalanceTimeoutMillis int32
	MemberID               string
	InstanceID             *string
	ProtocolType           string
	Protocols              []JoinGroupProtocol
	Tags                   Tags
}

func (m *JoinGroupRequest) codec(c *coder, v int16) {
	c.str(&m.Group)
	c.i32(&m.SessionTimeoutMillis)
	if v >= 1 {
		c.i32(&m.RebalanceTimeoutMillis)
	} else if c.dec {
		m.RebalanceTimeoutMillis = m.SessionTimeoutMillis
	}
	c.str(&m.MemberID)
	if v >= 5 {
		c.nstr(&m.InstanceID)
	}
	c.str(&m.ProtocolType)
	array(c, &m.Protocols, 2, func(c *coder, p *JoinGroupProtocol) {
		c.str(&p.Name)
		c.bytes(&p.Metadata)
		c.tags(&p.Tags)
	})
	c.tags(&m.Tags)
}

type JoinGroupMember struct {
	MemberID         string
	InstanceID       *string
	ProtocolMetadata []byte
	Tags             Tags
}

type JoinGroupResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	Generation     int32
	ProtocolType   *string
	Protocol       *string
	LeaderID       string
	MemberID       string
	Members        []JoinGroupMember
	Tags           Tags
}

func (m *JoinGroupResponse) codec(c *coder, v int16) {
	if v >= 2 {
		c.i32(&m.ThrottleMillis)
	}
	c.i16(&m.ErrorCode)
	c.i32(&m.Generation)
	if v >= 7 {
		c.nstr(&m.ProtocolType)
		c.nstr(&m.Protocol)
	} else {
		var s string
		if !c.dec && m.Protocol != nil {
			s = *m.Protocol
		}
		c.str(&s)
		if c.dec {
			m.Protocol = &s
		}
	}
	c.str(&m.LeaderID)
	c.str(&m.MemberID)
	array(c, &m.Members, 3, func(c *coder, mm *JoinGroupMember) {
		c.str(&mm.MemberID)
		if v >= 5 {
			c.nstr(&mm.InstanceID)
		}
		c.bytes(&mm.ProtocolMetadata)
		c.tags(&mm.Tags)
	})
	c.tags(&m.Tags)
}

// ---- Heartbeat (12) ----

type HeartbeatRequest struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID *string
	Tags       Tags
}

func (m *HeartbeatRequest) codec(c *coder, v int16) {
	c.str(&m.Group)
	c.i32(&m.Generation)
	c.str(&m.MemberID)
	if v >= 3 {
		c.nstr(&m.InstanceID)
	}
	c.tags(&m.Tags)
}

type HeartbeatResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	Tags           Tags
}

func (m *HeartbeatResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.i16(&m.ErrorCode)
	c.tags(&m.Tags)
}

// ---- LeaveGroup (13) ----

type LeaveGroupMember struct {
	MemberID   string
	InstanceID *string
	Reason     *string
	ErrorCode  int16 // response only
	Tags       Tags
}

type LeaveGroupRequest struct {
	Group    string
	MemberID string
	Members  []LeaveGroupMember
	Tags     Tags
}

func (m *LeaveGroupRequest) codec(c *coder, v int16) {
	c.str(&m.Group)
	if v <= 2 {
		c.str(&m.MemberID)
	} else {
		array(c, &m.Members, 2, func(c *coder, mm *LeaveGroupMember) {
			c.str(&mm.MemberID)
			c.nstr(&mm.InstanceID)
			if v >= 5 {
				c.nstr(&mm.Reason)
			}
			c.tags(&mm.Tags)
		})
	}
	c.tags(&m.Tags)
}

type LeaveGroupResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	Members        []LeaveGroupMember
	Tags           Tags
}

func (m *LeaveGroupResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.i16(&m.ErrorCode)
	if v >= 3 {
		array(c, &m.Members, 4, func(c *coder, mm *LeaveGroupMember) {
			c.str(&mm.MemberID)
			c.nstr(&mm.InstanceID)
			c.i16(&mm.ErrorCode)
			c.tags(&mm.Tags)
		})
	}
	c.tags(&m.Tags)
}

// ---- SyncGroup (14) ----

type SyncGroupAssignment struct {
	MemberID         string
	MemberAssignment []byte
	Tags             Tags
}

type SyncGroupRequest struct {
	Group           string
	Generation      int32
	MemberID        string
	InstanceID      *string
	ProtocolType    *string
	Protocol        *string
	GroupAssignment []SyncGroupAssignment
	Tags            Tags
}

func (m *SyncGroupRequest) codec(c *coder, v int16) {
	c.str(&m.Group)
	c.i32(&m.Generation)
	c.str(&m.MemberID)
	if v >= 3 {
		c.nstr(&m.InstanceID)
	}
	if v >= 5 {
		c.nstr(&m.ProtocolType)
		c.nstr(&m.Protocol)
	}
	array(c, &m.GroupAssignment, 2, func(c *coder, a *SyncGroupAssignment) {
		c.str(&a.MemberID)
		c.bytes(&a.MemberAssignment)
		c.tags(&a.Tags)
	})
	c.tags(&m.Tags)
}

type SyncGroupResponse struct {
	ThrottleMillis   int32
	ErrorCode        int16
	ProtocolType     *string
	Protocol         *string
	MemberAssignment []byte
	Tags             Tags
}

func (m *SyncGroupResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.i16(&m.ErrorCode)
	if v >= 5 {
		c.nstr(&m.ProtocolType)
		c.nstr(&m.Protocol)
	}
	c.bytes(&m.MemberAssignment)
	c.tags(&m.Tags)
}

// ---- OffsetCommit (8) ----

type OffsetCommitPartition struct {
	Partition   int32
	Offset      int64
	Timestamp   int64
	LeaderEpoch int32
	Metadata    *string
	Tags        Tags
}

type OffsetCommitTopic struct {
	Topic      string
	Partitions []OffsetCommitPartition
	Tags       Tags
}

type OffsetCommitRequest struct {
	Group               string
	Generation          int32
	MemberID            string
	InstanceID          *string
	RetentionTimeMillis int64
	Topics              []OffsetCommitTopic
	Tags                Tags
}

func (m *OffsetCommitRequest) codec(c *coder, v int16) {
	c.str(&m.Group)
	if v >= 1 {
		c.i32(&m.Generation)
		c.str(&m.MemberID)
	} else if c.dec {
		m.Generation = -1
	}
	if v >= 7 {
		c.nstr(&m.InstanceID)
	}
	if v >= 2 && v <= 4 {
		c.i64(&m.RetentionTimeMillis)
	}
	array(c, &m.Topics, 2, func(c *coder, t *OffsetCommitTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 12, func(c *coder, p *OffsetCommitPartition) {
			c.i32(&p.Partition)
			c.i64(&p.Offset)
			if v == 1 {
				c.i64(&p.Timestamp)
			}
			if v >= 6 {
				c.i32(&p.LeaderEpoch)
			}
			c.nstr(&p.Metadata)
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

type OffsetCommitResponsePartition struct {
	Partition int32
	ErrorCode int16
	Tags      Tags
}

type OffsetCommitResponseTopic struct {
	Topic      string
	Partitions []OffsetCommitResponsePartition
	Tags       Tags
}

type OffsetCommitResponse struct {
	ThrottleMillis int32
	Topics         []OffsetCommitResponseTopic
	Tags           Tags
}

func (m *OffsetCommitResponse) codec(c *coder, v int16) {
	if v >= 3 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Topics, 2, func(c *coder, t *OffsetCommitResponseTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 6, func(c *coder, p *OffsetCommitResponsePartition) {
			c.i32(&p.Partition)
			c.i16(&p.ErrorCode)
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

// ---- OffsetFetch (9) ----

type OffsetFetchTopic struct {
	Topic      string
	Partitions []int32
	Tags       Tags
}

type OffsetFetchRequest struct {
	Group string
	// Topics nil (v2+) means every topic the group committed.
	Topics        []OffsetFetchTopic
	RequireStable bool
	Tags          Tags
}

func (m *OffsetFetchRequest) codec(c *coder, v int16) {
	c.str(&m.Group)
	f := func(c *coder, t *OffsetFetchTopic) {
		c.str(&t.Topic)
		i32s(c, &t.Partitions)
		c.tags(&t.Tags)
	}
	if v >= 2 {
		narray(c, &m.Topics, 2, f)
	} else {
		array(c, &m.Topics, 2, f)
	}
	if v >= 7 {
		c.boolean(&m.RequireStable)
	}
	c.tags(&m.Tags)
}

type OffsetFetchResponsePartition struct {
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
	ErrorCode   int16
	Tags        Tags
}

type OffsetFetchResponseTopic struct {
	Topic      string
	Partitions []OffsetFetchResponsePartition
	Tags       Tags
}

type OffsetFetchResponse struct {
	ThrottleMillis int32
	Topics         []OffsetFetchResponseTopic
	ErrorCode      int16
	Tags           Tags
}

func (m *OffsetFetchResponse) codec(c *coder, v int16) {
	if v >= 3 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Topics, 2, func(c *coder, t *OffsetFetchResponseTopic) {
		c.str(&t.Topic)
		array(c, &t.Partitions, 14, func(c *coder, p *OffsetFetchResponsePartition) {
			c.i32(&p.Partition)
			c.i64(&p.Offset)
			if v >= 5 {
				c.i32(&p.LeaderEpoch)
			}
			c.nstr(&p.Metadata)
			c.i16(&p.ErrorCode)
			c.tags(&p.Tags)
		})
		c.tags(&t.Tags)
	})
	if v >= 2 {
		c.i16(&m.ErrorCode)
	}
	c.tags(&m.Tags)
}

// ---- DescribeGroups (15) ----

type DescribeGroupsRequest struct {
	Groups                      []string
	IncludeAuthorizedOperations bool
	Tags                        Tags
}

func (m *DescribeGroupsRequest) codec(c *coder, v int16) {
	strs(c, &m.Groups)
	if v >= 3 {
		c.boolean(&m.IncludeAuthorizedOperations)
	}
	c.tags(&m.Tags)
}

type DescribeGroupsMember struct {
	MemberID         string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	ProtocolMetadata []byte
	MemberAssignment []byte
	Tags             Tags
}

type DescribeGroupsGroup struct {
	ErrorCode            int16
	Group                string
	State                string
	ProtocolType         string
	Protocol             string
	Members              []DescribeGroupsMember
	AuthorizedOperations int32
	Tags                 Tags
}

type DescribeGroupsResponse struct {
	ThrottleMillis int32
	Groups         []DescribeGroupsGroup
	Tags           Tags
}

func (m *DescribeGroupsResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Groups, 10, func(c *coder, g *DescribeGroupsGroup) {
		c.i16(&g.ErrorCode)
		c.str(&g.Group)
		c.str(&g.State)
		c.str(&g.ProtocolType)
		c.str(&g.Protocol)
		array(c, &g.Members, 6, func(c *coder, mm *DescribeGroupsMember) {
			c.str(&mm.MemberID)
			if v >= 4 {
				c.nstr(&mm.InstanceID)
			}
			c.str(&mm.ClientID)
			c.str(&mm.ClientHost)
			c.bytes(&mm.ProtocolMetadata)
			c.bytes(&mm.MemberAssignment)
			c.tags(&mm.Tags)
		})
		if v >= 3 {
			c.i32(&g.AuthorizedOperations)
		}
		c.tags(&g.Tags)
	})
	c.tags(&m.Tags)
}

// ---- ListGroups (16) ----

type ListGroupsRequest struct {
	StatesFilter []string
	Tags         Tags
}

func (m *ListGroupsRequest) codec(c *coder, v int16) {
	if v >= 4 {
		strs(c, &m.StatesFilter)
	}
	c.tags(&m.Tags)
}

type ListGroupsGroup struct {
	Group        string
	ProtocolType string
	GroupState   string
	Tags         Tags
}

type ListGroupsResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	Groups         []ListGroupsGroup
	Tags           Tags
}

func (m *ListGroupsResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	c.i16(&m.ErrorCode)
	array(c, &m.Groups, 2, func(c *coder, g *ListGroupsGroup) {
		c.str(&g.Group)
		c.str(&g.ProtocolType)
		if v >= 4 {
			c.str(&g.GroupState)
		}
		c.tags(&g.Tags)
	})
	c.tags(&m.Tags)
}

// ---- DeleteGroups (42) ----

type DeleteGroupsRequest struct {
	Groups []string
	Tags   Tags
}

func (m *DeleteGroupsRequest) codec(c *coder, _ int16) {
	strs(c, &m.Groups)
	c.tags(&m.Tags)
}

type DeleteGroupsResult struct {
	Group     string
	ErrorCode int16
	Tags      Tags
}

type DeleteGroupsResponse struct {
	ThrottleMillis int32
	Groups         []DeleteGroupsResult
	Tags           Tags
}

func (m *DeleteGroupsResponse) codec(c *coder, _ int16) {
	c.i32(&m.ThrottleMillis)
	array(c, &m.Groups, 3, func(c *coder, g *DeleteGroupsResult) {
		c.str(&g.Group)
		c.i16(&g.ErrorCode)
		c.tags(&g.Tags)
	})
	c.tags(&m.Tags)
}

// ---- SaslHandshake (17) ----

type SaslHandshakeRequest struct {
	Mechanism string
}

func (m *SaslHandshakeRequest) codec(c *coder, _ int16) { c.str(&m.Mechanism) }

type SaslHandshakeResponse struct {
	ErrorCode           int16
	SupportedMechanisms []string
}

func (m *SaslHandshakeResponse) codec(c *coder, _ int16) {
	c.i16(&m.ErrorCode)
	strs(c, &m.SupportedMechanisms)
}

// ---- SaslAuthenticate (36) ----

type SaslAuthenticateRequest struct {
	AuthBytes []byte
	Tags      Tags
}

func (m *SaslAuthenticateRequest) codec(c *coder, _ int16) {
	c.bytes(&m.AuthBytes)
	c.tags(&m.Tags)
}

type SaslAuthenticateResponse struct {
	ErrorCode             int16
	ErrorMessage          *string
	AuthBytes             []byte
	SessionLifetimeMillis int64
	Tags                  Tags
}

func (m *SaslAuthenticateResponse) codec(c *coder, v int16) {
	c.i16(&m.ErrorCode)
	c.nstr(&m.ErrorMessage)
	c.bytes(&m.AuthBytes)
	if v >= 1 {
		c.i64(&m.SessionLifetimeMillis)
	}
	c.tags(&m.Tags)
}

// ---- CreateTopics (19) ----

type CreateTopicsAssignment struct {
	Partition int32
	Replicas  []int32
	Tags      Tags
}

type CreateTopicsConfig struct {
	Name  string
	Value *string
	Tags  Tags
}

type CreateTopicsTopic struct {
	Topic             string
	NumPartitions     int32
	ReplicationFactor int16
	ReplicaAssignment []CreateTopicsAssignment
	Configs           []CreateTopicsConfig
	Tags              Tags
}

type CreateTopicsRequest struct {
	Topics        []CreateTopicsTopic
	TimeoutMillis int32
	ValidateOnly  bool
	Tags          Tags
}

func (m *CreateTopicsRequest) codec(c *coder, v int16) {
	array(c, &m.Topics, 10, func(c *coder, t *CreateTopicsTopic) {
		c.str(&t.Topic)
		c.i32(&t.NumPartitions)
		c.i16(&t.ReplicationFactor)
		array(c, &t.ReplicaAssignment, 5, func(c *coder, a *CreateTopicsAssignment) {
			c.i32(&a.Partition)
			i32s(c, &a.Replicas)
			c.tags(&a.Tags)
		})
		array(c, &t.Configs, 2, func(c *coder, cf *CreateTopicsConfig) {
			c.str(&cf.Name)
			c.nstr(&cf.Value)
			c.tags(&cf.Tags)
		})
		c.tags(&t.Tags)
	})
	c.i32(&m.TimeoutMillis)
	if v >= 1 {
		c.boolean(&m.ValidateOnly)
	}
	c.tags(&m.Tags)
}

type CreateTopicsResponseConfig struct {
	Name        string
	Value       *string
	ReadOnly    bool
	Source      int8
	IsSensitive bool
	Tags        Tags
}

type CreateTopicsResponseTopic struct {
	Topic             string
	ErrorCode         int16
	ErrorMessage      *string
	NumPartitions     int32
	ReplicationFactor int16
	Configs           []CreateTopicsResponseConfig
	Tags              Tags
}

type CreateTopicsResponse struct {
	ThrottleMillis int32
	Topics         []CreateTopicsResponseTopic
	Tags           Tags
}

func (m *CreateTopicsResponse) codec(c *coder, v int16) {
	if v >= 2 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Topics, 3, func(c *coder, t *CreateTopicsResponseTopic) {
		c.str(&t.Topic)
		c.i16(&t.ErrorCode)
		if v >= 1 {
			c.nstr(&t.ErrorMessage)
		}
		if v >= 5 {
			c.i32(&t.NumPartitions)
			c.i16(&t.ReplicationFactor)
			narray(c, &t.Configs, 5, func(c *coder, cf *CreateTopicsResponseConfig) {
				c.str(&cf.Name)
				c.nstr(&cf.Value)
				c.boolean(&cf.ReadOnly)
				c.i8(&cf.Source)
				c.boolean(&cf.IsSensitive)
				c.tags(&cf.Tags)
			})
		}
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

// ---- DeleteTopics (20) ----

type DeleteTopicsRequest struct {
	TopicNames    []string
	TimeoutMillis int32
	Tags          Tags
}

func (m *DeleteTopicsRequest) codec(c *coder, _ int16) {
	strs(c, &m.TopicNames)
	c.i32(&m.TimeoutMillis)
	c.tags(&m.Tags)
}

type DeleteTopicsResult struct {
	Topic        string
	ErrorCode    int16
	ErrorMessage *string
	Tags         Tags
}

type DeleteTopicsResponse struct {
	ThrottleMillis int32
	Topics         []DeleteTopicsResult
	Tags           Tags
}

func (m *DeleteTopicsResponse) codec(c *coder, v int16) {
	if v >= 1 {
		c.i32(&m.ThrottleMillis)
	}
	array(c, &m.Topics, 3, func(c *coder, t *DeleteTopicsResult) {
		c.str(&t.Topic)
		c.i16(&t.ErrorCode)
		if v >= 5 {
			c.nstr(&t.ErrorMessage)
		}
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

// ---- CreatePartitions (37) ----

type CreatePartitionsAssignment struct {
	Replicas []int32
	Tags     Tags
}

type CreatePartitionsTopic struct {
	Topic      string
	Count      int32
	Assignment []CreatePartitionsAssignment
	Tags       Tags
}

type CreatePartitionsRequest struct {
	Topics        []CreatePartitionsTopic
	TimeoutMillis int32
	ValidateOnly  bool
	Tags          Tags
}

func (m *CreatePartitionsRequest) codec(c *coder, _ int16) {
	array(c, &m.Topics, 7, func(c *coder, t *CreatePartitionsTopic) {
		c.str(&t.Topic)
		c.i32(&t.Count)
		narray(c, &t.Assignment, 1, func(c *coder, a *CreatePartitionsAssignment) {
			i32s(c, &a.Replicas)
			c.tags(&a.Tags)
		})
		c.tags(&t.Tags)
	})
	c.i32(&m.TimeoutMillis)
	c.boolean(&m.ValidateOnly)
	c.tags(&m.Tags)
}

type CreatePartitionsResult struct {
	Topic        string
	ErrorCode    int16
	ErrorMessage *string
	Tags         Tags
}

type CreatePartitionsResponse struct {
	ThrottleMillis int32
	Topics         []CreatePartitionsResult
	Tags           Tags
}

func (m *CreatePartitionsResponse) codec(c *coder, _ int16) {
	c.i32(&m.ThrottleMillis)
	array(c, &m.Topics, 4, func(c *coder, t *CreatePartitionsResult) {
		c.str(&t.Topic)
		c.i16(&t.ErrorCode)
		c.nstr(&t.ErrorMessage)
		c.tags(&t.Tags)
	})
	c.tags(&m.Tags)
}

// ---- DescribeConfigs (32) ----

type DescribeConfigsResource struct {
	ResourceType int8
	ResourceName string
	// ConfigNames nil means every config.
	ConfigNames []string
	Tags        Tags
}

type DescribeConfigsRequest struct {
	Resources            []DescribeConfigsResource
	IncludeSynonyms      bool
	IncludeDocumentation bool
	Tags                 Tags
}

func (m *DescribeConfigsRequest) codec(c *coder, v int16) {
	array(c, &m.Resources, 4, func(c *coder, r *DescribeConfigsResource) {
		c.i8(&r.ResourceType)
		c.str(&r.ResourceName)
		narray(c, &r.ConfigNames, 1, func(c *coder, s *string) { c.str(s) })
		c.tags(&r.Tags)
	})
	if v >= 1 {
		c.boolean(&m.IncludeSynonyms)
	}
	if v >= 3 {
		c.boolean(&m.IncludeDocumentation)
	}
	c.tags(&m.Tags)
}

type DescribeConfigsSynonym struct {
	Name   string
	Value  *string
	Source int8
	Tags   Tags
}

type DescribeConfigsConfig struct {
	Name           string
	Value          *string
	ReadOnly       bool
	IsDefault      bool
	Source         int8
	IsSensitive    bool
	ConfigSynonyms []DescribeConfigsSynonym
	ConfigType     int8
	Documentation  *string
	Tags           Tags
}

type DescribeConfigsResponseResource struct {
	ErrorCode    int16
	ErrorMessage *string
	ResourceType int8
	ResourceName string
	Configs      []DescribeConfigsConfig
	Tags         Tags
}

type DescribeConfigsResponse struct {
	ThrottleMillis int32
	Resources      []DescribeConfigsResponseResource
	Tags           Tags
}

func (m *DescribeConfigsResponse) codec(c *coder, v int16) {
	c.i32(&m.ThrottleMillis)
	array(c, &m.Resources, 9, func(c *coder, r *DescribeConfigsResponseResource) {
		c.i16(&r.ErrorCode)
		c.nstr(&r.ErrorMessage)
		c.i8(&r.ResourceType)
		c.str(&r.ResourceName)
		array(c, &r.Configs, 6, func(c *coder, cf *DescribeConfigsConfig) {
			c.str(&cf.Name)
			c.nstr(&cf.Value)
			c.boolean(&cf.ReadOnly)
			if v == 0 {
				c.boolean(&cf.IsDefault)
			} else {
				c.i8(&cf.Source)
			}
			c.boolean(&cf.IsSensitive)
			if v >= 1 {
				array(c, &cf.ConfigSynonyms, 4, func(c *coder, s *DescribeConfigsSynonym) {
					c.str(&s.Name)
					c.nstr(&s.Value)
					c.i8(&s.Source)
					c.tags(&s.Tags)
				})
			}
			if v >= 3 {
				c.i8(&cf.ConfigType)
				c.nstr(&cf.Documentation)
			}
			c.tags(&cf.Tags)
		})
		c.tags(&r.Tags)
	})
	c.tags(&m.Tags)
}

// ---- InitProducerId (22) ----

type InitProducerIDRequest struct {
	TransactionalID          *string
	TransactionTimeoutMillis int32
	ProducerID               int64
	ProducerEpoch            int16
	Tags                     Tags
}

func (m *InitProducerIDRequest) codec(c *coder, v int16) {
	c.nstr(&m.TransactionalID)
	c.i32(&m.TransactionTimeoutMillis)
	if v >= 3 {
		c.i64(&m.ProducerID)
		c.i16(&m.ProducerEpoch)
	} else if c.dec {
		m.ProducerID, m.ProducerEpoch = -1, -1
	}
	c.tags(&m.Tags)
}

type InitProducerIDResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	ProducerID     int64
	ProducerEpoch  int16
	Tags           Tags
}

func (m *InitProducerIDResponse) codec(c *coder, _ int16) {
	c.i32(&m.ThrottleMillis)
	c.i16(&m.ErrorCode)
	c.i64(&m.ProducerID)
	c.i16(&m.ProducerEpoch)
	c.tags(&m.Tags)
}
