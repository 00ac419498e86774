{{/* The release's base name, at most 40 characters so that component names
     and pod names (<base>-placement-<n>) stay within Kubernetes' limits. */}}
{{- define "robustmq.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "robustmq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include with (list $ "placement"). */}}
{{- define "robustmq.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "robustmq.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | toString) -}}
{{- end -}}

{{- define "robustmq.placementHeadless" -}}
{{- printf "%s-placement-headless" (include "robustmq.fullname" .) -}}
{{- end -}}

{{- define "robustmq.journalHeadless" -}}
{{- printf "%s-journal-headless" (include "robustmq.fullname" .) -}}
{{- end -}}

{{/* The DNS suffix of a headless service's pods: .<svc>.<ns>.svc.<domain> */}}
{{- define "robustmq.podDomain" -}}
{{- $root := index . 0 -}}
{{- printf ".%s.%s.svc.%s" (index . 1) $root.Release.Namespace $root.Values.clusterDomain -}}
{{- end -}}

{{/* Every placement member's gRPC address, comma-separated: host:port. */}}
{{- define "robustmq.placementAddrs" -}}
{{- $root := . -}}
{{- $domain := include "robustmq.podDomain" (list . (include "robustmq.placementHeadless" .)) -}}
{{- $addrs := list -}}
{{- range $i := untilStep 1 (int (add1 .Values.placement.replicas)) 1 -}}
{{- $addrs = append $addrs (printf "%s-placement-%d%s:%d" (include "robustmq.fullname" $root) $i $domain (int $root.Values.placement.grpcPort)) -}}
{{- end -}}
{{- join "," $addrs -}}
{{- end -}}

{{/* The Raft bootstrap voters: id=host:port,... (pod ordinals start at 1). */}}
{{- define "robustmq.placementPeers" -}}
{{- $peers := list -}}
{{- range $i, $addr := splitList "," (include "robustmq.placementAddrs" .) -}}
{{- $peers = append $peers (printf "%d=%s" (add1 $i) $addr) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}

{{- define "robustmq.validate" -}}
{{- $n := int .Values.placement.replicas -}}
{{- if or (lt $n 1) (eq (mod $n 2) 0) -}}
{{- fail (printf "placement.replicas must be an odd number >= 1 (a Raft group), not %d" $n) -}}
{{- end -}}
{{- if lt (int .Values.journal.replicas) 1 -}}
{{- fail "journal.replicas must be at least 1" -}}
{{- end -}}
{{- end -}}

{{/* A values map as a TOML document: keys first, then one [table] per
     nested map (recursively, [a.b]). Scalars and lists are written with
     toJson, which is valid TOML for them and prints whole numbers without
     the ".0" Helm's float64 values would get from toToml.
     Include with (list "" .Values.x.config). */}}
{{- define "robustmq.toml" -}}
{{- $prefix := index . 0 -}}
{{- $m := index . 1 -}}
{{- range $k, $v := $m }}{{ if not (kindIs "map" $v) }}
{{ $k }} = {{ toJson $v }}
{{- end }}{{ end }}
{{- range $k, $v := $m }}{{ if kindIs "map" $v }}
{{- $name := ternary $k (printf "%s.%s" $prefix $k) (eq $prefix "") }}

[{{ $name }}]
{{- include "robustmq.toml" (list $name $v) }}
{{- end }}{{ end }}
{{- end -}}
