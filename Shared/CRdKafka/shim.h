#ifndef STREAMREC_CRDKAFKA_SHIM_H
#define STREAMREC_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>

#include <dlfcn.h>
#include <string.h>

// Kafka topic ids (a new one each time a topic is created) come from DescribeTopics, new in librdkafka
// 2.3. The project runs with the confluent-kafka wheel's library (≥ 2.2) while Debian's headers may be
// older still, so the calls are looked up at run time: with a library that lacks them, or a broker
// without topic ids, every id comes back empty and callers fall back to what they did without.
//
// Fills the 64 bytes at ids + 64 * i (NUL-terminated base64, empty when unknown) for names[i]. Returns 0, or -1 if this
// library has no DescribeTopics, or the rd_kafka_resp_err_t of a failed request. Blocks up to timeout_ms.
static inline int streamrec_describe_topic_ids(rd_kafka_t *rk, const char **names, size_t count, int timeout_ms,
                                               char *ids) {
    typedef void *(*collection_fn)(const char **, size_t);
    typedef void (*collection_destroy_fn)(void *);
    typedef void (*describe_fn)(rd_kafka_t *, const void *, const rd_kafka_AdminOptions_t *, rd_kafka_queue_t *);
    typedef const void *(*result_fn)(rd_kafka_event_t *);
    typedef const void **(*result_topics_fn)(const void *, size_t *);
    typedef const char *(*name_fn)(const void *);
    typedef const void *(*topic_id_fn)(const void *);
    typedef const void *(*error_fn)(const void *);
    typedef const char *(*base64_fn)(const void *);
    collection_fn of_names = (collection_fn)dlsym(RTLD_DEFAULT, "rd_kafka_TopicCollection_of_topic_names");
    collection_destroy_fn destroy_collection = (collection_destroy_fn)dlsym(RTLD_DEFAULT, "rd_kafka_TopicCollection_destroy");
    describe_fn describe = (describe_fn)dlsym(RTLD_DEFAULT, "rd_kafka_DescribeTopics");
    result_fn result_of = (result_fn)dlsym(RTLD_DEFAULT, "rd_kafka_event_DescribeTopics_result");
    result_topics_fn topics_of = (result_topics_fn)dlsym(RTLD_DEFAULT, "rd_kafka_DescribeTopics_result_topics");
    name_fn name_of = (name_fn)dlsym(RTLD_DEFAULT, "rd_kafka_TopicDescription_name");
    topic_id_fn topic_id_of = (topic_id_fn)dlsym(RTLD_DEFAULT, "rd_kafka_TopicDescription_topic_id");
    error_fn error_of = (error_fn)dlsym(RTLD_DEFAULT, "rd_kafka_TopicDescription_error");
    base64_fn base64 = (base64_fn)dlsym(RTLD_DEFAULT, "rd_kafka_Uuid_base64str");
    for (size_t i = 0; i < count; i++) ids[64 * i] = '\0';
    if (!of_names || !destroy_collection || !describe || !result_of || !topics_of || !name_of || !topic_id_of || !error_of || !base64) {
        return -1;
    }
    char error_text[256];
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, error_text, sizeof error_text);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    void *collection = of_names(names, count);
    describe(rk, collection, options, queue);
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, timeout_ms + 2000);
    int status = 0;
    if (event == NULL) {
        status = RD_KAFKA_RESP_ERR__TIMED_OUT;
    } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = rd_kafka_event_error(event);
    } else {
        size_t described_count = 0;
        const void **described = topics_of(result_of(event), &described_count);
        for (size_t d = 0; described != NULL && d < described_count; d++) {
            if (error_of(described[d]) != NULL) continue;
            const void *uuid = topic_id_of(described[d]);
            const char *text = uuid ? base64(uuid) : NULL;
            // All zeros: the broker has no id for it.
            if (text == NULL || strcmp(text, "AAAAAAAAAAAAAAAAAAAAAA") == 0) continue;
            for (size_t i = 0; i < count; i++) {
                if (strcmp(names[i], name_of(described[d])) == 0) {
                    strncpy(ids + 64 * i, text, 63);
                    ids[64 * i + 63] = '\0';
                }
            }
        }
    }
    if (event != NULL) rd_kafka_event_destroy(event);
    destroy_collection(collection);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    return status;
}

// rd_kafka_producev() is variadic, so Swift cannot call it, and rd_kafka_produce() takes no headers.
// rd_kafka_produceva() is the non-variadic form; this helper fills its argument vector so the Swift side
// does not have to touch the C union. Key and value are copied by librdkafka (RD_KAFKA_MSG_F_COPY).
// On success librdkafka owns `headers`; on failure the caller still owns them and must destroy them.
static inline rd_kafka_resp_err_t streamrec_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                                    const void *key, size_t key_len,
                                                    const void *value, size_t value_len,
                                                    rd_kafka_headers_t *headers, void *opaque) {
    rd_kafka_vu_t vus[7];
    size_t n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[n++].u.cstr = topic;
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[n++].u.i32 = partition;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[n].u.mem.ptr = (void *)value;
    vus[n++].u.mem.size = value_len;
    if (key != NULL) {
        vus[n].vtype = RD_KAFKA_VTYPE_KEY;
        vus[n].u.mem.ptr = (void *)key;
        vus[n++].u.mem.size = key_len;
    }
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[n++].u.ptr = opaque;
    if (headers != NULL) {
        vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vus[n++].u.headers = headers;
    }
    rd_kafka_error_t *error = rd_kafka_produceva(rk, vus, n);
    if (error == NULL) {
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    return code;
}
#endif
