// libcurl's curl_easy_setopt is variadic and so cannot be called from Swift; this file is
// the smallest C surface that keeps the blocking GET in libcurl's hands.
//
// libcurl is loaded with dlopen at the first GET rather than linked: linked, the dynamic loader
// maps and relocates it and its dependency tree (OpenSSL, GnuTLS, Kerberos, p11-kit) at every exec,
// which kept about 5 MB resident in the daemon and in each worker process even when no GET ever ran.
#include "CConcShims.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_reset)(CURL *handle);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *handle);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    // Why loading failed, or the empty string once libcurl is ready.
    char failure[200];
} concd_curl;

static pthread_once_t concd_curl_once = PTHREAD_ONCE_INIT;

static void concd_curl_load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(concd_curl.failure, sizeof(concd_curl.failure), "libcurl could not be loaded: %s", dlerror());
        return;
    }
    *(void **)&concd_curl.global_init = dlsym(library, "curl_global_init");
    *(void **)&concd_curl.easy_init = dlsym(library, "curl_easy_init");
    *(void **)&concd_curl.easy_reset = dlsym(library, "curl_easy_reset");
    *(void **)&concd_curl.easy_setopt = dlsym(library, "curl_easy_setopt");
    *(void **)&concd_curl.easy_perform = dlsym(library, "curl_easy_perform");
    *(void **)&concd_curl.easy_getinfo = dlsym(library, "curl_easy_getinfo");
    *(void **)&concd_curl.easy_strerror = dlsym(library, "curl_easy_strerror");
    if (!concd_curl.global_init || !concd_curl.easy_init || !concd_curl.easy_reset || !concd_curl.easy_setopt
        || !concd_curl.easy_perform || !concd_curl.easy_getinfo || !concd_curl.easy_strerror) {
        snprintf(concd_curl.failure, sizeof(concd_curl.failure), "libcurl.so.4 lacks a function concd needs");
        return;
    }
    // Not thread-safe in libcurl, hence once, before any thread makes a handle.
    if (concd_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(concd_curl.failure, sizeof(concd_curl.failure), "libcurl could not be initialised");
    }
}

int concd_curl_global_init(void) {
    pthread_once(&concd_curl_once, concd_curl_load);
    return concd_curl.failure[0] ? -1 : 0;
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
    if (concd_curl_global_init() != 0) {
        result->curl_code = CURLE_FAILED_INIT;
        snprintf(result->error, sizeof(result->error), "%s", concd_curl.failure);
        return;
    }
    CURL *handle = concd_thread_handle;
    if (handle == NULL) {
        handle = concd_curl.easy_init();
        if (handle == NULL) {
            result->curl_code = CURLE_FAILED_INIT;
            snprintf(result->error, sizeof(result->error), "libcurl could not create a handle");
            return;
        }
        concd_thread_handle = handle;
    } else {
        concd_curl.easy_reset(handle);
    }
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = 0;
    concd_curl.easy_setopt(handle, CURLOPT_URL, url);
    concd_curl.easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    // Threads must not let libcurl use signals for timeouts.
    concd_curl.easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    concd_curl.easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms);
    concd_curl.easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    concd_curl.easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    concd_curl.easy_setopt(handle, CURLOPT_USERAGENT, "concd");
    concd_curl.easy_setopt(handle, CURLOPT_ERRORBUFFER, errbuf);
    concd_curl.easy_setopt(handle, CURLOPT_WRITEFUNCTION, concd_count_body);
    concd_curl.easy_setopt(handle, CURLOPT_WRITEDATA, &result->body_bytes);

    CURLcode code = concd_curl.easy_perform(handle);
    result->curl_code = (int)code;
    concd_curl.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &result->status);
    curl_off_t total = 0;
    if (concd_curl.easy_getinfo(handle, CURLINFO_TOTAL_TIME_T, &total) == CURLE_OK) {
        result->total_us = (uint64_t)total;
    }
    if (code != CURLE_OK) {
        const char *message = errbuf[0] ? errbuf : concd_curl.easy_strerror(code);
        snprintf(result->error, sizeof(result->error), "%s", message);
    }
    // The error buffer lives on this stack frame; detach it before returning.
    concd_curl.easy_setopt(handle, CURLOPT_ERRORBUFFER, NULL);
}
