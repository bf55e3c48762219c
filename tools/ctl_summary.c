/* ctl_summary - a compiled policy described as JSON (check, show, push) */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void
ctl_hex(char *buf, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", b[i]);
}

void
ctl_summary_json(FILE *out, const struct pol_snapshot *s)
{
	const struct pol_model *m = pol_snapshot_model(s);
	struct pol_stats st;
	char hash[33];

	pol_snapshot_stats(s, &st);
	ctl_hex(hash, st.source_hash, 16);
	fprintf(out, "\"hostname\":");
	json_str(out, m->hostname);
	fprintf(out, ",\"source_hash\":\"%s\",\"source_bytes\":%zu,\"files\":%zu,\"lists\":{", hash,
	        m->source_bytes, m->nfiles);
	for (int l = 0; l < POL_L_COUNT; l++)
		fprintf(out, "%s\"%s\":%zu", l ? "," : "", pol_list_name(l), st.nlist[l]);
	fprintf(out, "},\"kinds\":{");
	for (int k = 0; k < POL_P_COUNT; k++)
		fprintf(out, "%s\"%s\":%zu", k ? "," : "", pol_kind_name(k), st.nkind[k]);
	fprintf(out, "},\"services\":[");
	for (unsigned i = 0; i < m->nservices; i++) {
		fprintf(out, "%s{\"name\":", i ? "," : "");
		json_str(out, m->services[i].name);
		fprintf(out, ",\"ports\":[");
		for (unsigned p = 0; p < m->services[i].nports; p++)
			fprintf(out, "%s%u", p ? "," : "", m->services[i].ports[p]);
		fprintf(out, "],\"tls\":\"%s\"}", pol_tls_name(m->services[i].tls));
	}
	fprintf(out, "],\"backend_tls\":\"%s\"", pol_backend_tls_name(m->backend.tls));
	fprintf(out,
	        ",\"hyperscan\":{\"patterns\":%zu,\"compiled\":%u,\"cached\":%u},"
	        "\"compile_seconds\":%.6f,\"memory_bytes\":%zu",
	        st.hs_patterns, st.hs_compiled, st.hs_cached, st.compile_seconds, st.mem_bytes);
}
