// libcurl's curl_easy_setopt is variadic and so cannot be called from Swift; this file is
// the smallest C surface that keeps the blocking GET in libcurl's hands.
#include "CConcShims.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

int concd_curl_global_init(void) {
    return (int)curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t concd_count_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    (void)ptr;
    uint64_t *count = (uint64_t *)userdata;
    *count += (uint64_t)(size * nmemb);
    return size * nmemb;
}

static __thread CURL *concd_thread_handle;

void concd_http_get(const char *url, long timeout_ms, concd_http_result *result) {
    memset(result, 0, sizeof(*result));
    CURL *handle = concd_thread_handle;
    if (handle == NULL) {
        handle = curl_easy_init();
        if (handle == NULL) {
            result->curl_code = CURLE_FAILED_INIT;
            snprintf(result->error, sizeof(result->error), "libcurl could not create a handle");
            return;
        }
        concd_thread_handle = handle;
    } else {
        curl_easy_reset(handle);
    }
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = 0;
    curl_easy_setopt(handle, CURLOPT_URL, url);
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    // Threads must not let libcurl use signals for timeouts.
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "concd");
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, concd_count_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &result->body_bytes);

    CURLcode code = curl_easy_perform(handle);
    result->curl_code = (int)code;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &result->status);
    curl_off_t total = 0;
    if (curl_easy_getinfo(handle, CURLINFO_TOTAL_TIME_T, &total) == CURLE_OK) {
        result->total_us = (uint64_t)total;
    }
    if (code != CURLE_OK) {
        const char *message = errbuf[0] ? errbuf : curl_easy_strerror(code);
        snprintf(result->error, sizeof(result->error), "%s", message);
    }
    // The error buffer lives on this stack frame; detach it before returning.
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, NULL);
}
