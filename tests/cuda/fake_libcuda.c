/* A stand-in for libcuda.so.1 with the driver API's C signatures, so that dynajit.cuda's
 * ctypes bindings, error handling, memory ownership, argument packing and launch plumbing
 * are tested on machines without a GPU. "Device" memory is host memory from malloc, so
 * copies are memcpy; two kernels (saxpy, affine_i32) run on the host when launched, which
 * checks that arguments arrive with the right bytes. The tests' conftest compiles it.
 *
 * Behaviour the tests steer through fake_configure(): cuInit's result and the device count.
 * Calls that need a context fail with CUDA_ERROR_INVALID_CONTEXT unless cuCtxSetCurrent
 * made the primary context current on the calling thread, as the real driver does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream, *CUevent;

enum {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NO_DEVICE = 100,
    INVALID_CONTEXT = 201, INVALID_PTX = 218, INVALID_HANDLE = 400, NOT_FOUND = 500,
};

static const struct { int code; const char *name, *text; } errors[] = {
    {SUCCESS, "CUDA_SUCCESS", "no error"},
    {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
};

static int init_result = SUCCESS, device_count = 1;
static int primary_context;                 /* its address is the context handle */
static __thread void *current_context;
static long live_allocations, live_streams, live_events, live_modules;
static unsigned last_launch[7];             /* grid xyz, block xyz, shared bytes */
static void *last_stream;

/* ---- test controls ---- */

void fake_configure(int cu_init_result, int devices) {
    init_result = cu_init_result;
    device_count = devices;
}

long fake_live(int what) {
    switch (what) {
    case 0: return live_allocations;
    case 1: return live_streams;
    case 2: return live_events;
    default: return live_modules;
    }
}

void *fake_last_launch(unsigned *out) {
    memcpy(out, last_launch, sizeof last_launch);
    return last_stream;
}

/* ---- errors, init, devices ---- */

static int lookup(CUresult e) {
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == e) return (int)i;
    return -1;
}

CUresult cuGetErrorName(CUresult e, const char **s) {
    int i = lookup(e);
    *s = i < 0 ? NULL : errors[i].name;
    return i < 0 ? INVALID_VALUE : SUCCESS;
}

CUresult cuGetErrorString(CUresult e, const char **s) {
    int i = lookup(e);
    *s = i < 0 ? NULL : errors[i].text;
    return i < 0 ? INVALID_VALUE : SUCCESS;
}

CUresult cuInit(unsigned flags) { return flags ? INVALID_VALUE : init_result; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return SUCCESS; }
CUresult cuDeviceGetCount(int *n) { *n = device_count; return SUCCESS; }

CUresult cuDeviceGet(CUdevice *d, int ordinal) {
    if (ordinal < 0 || ordinal >= device_count) return INVALID_VALUE;
    *d = ordinal;
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int *v, int attribute, CUdevice d) {
    (void)d;
    switch (attribute) {
    case 1: *v = 1024; break;       /* max threads per block */
    case 8: *v = 49152; break;      /* shared memory per block */
    case 10: *v = 32; break;        /* warp size */
    case 16: *v = 132; break;       /* multiprocessors */
    case 38: *v = 52428800; break;  /* L2 bytes */
    case 75: *v = 9; break;         /* compute capability */
    case 76: *v = 0; break;
    case 97: *v = 232448; break;    /* opt-in shared memory per block */
    default: return INVALID_VALUE;
    }
    return SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
    (void)d;
    strncpy(name, "Fake GPU", (size_t)len);
    return SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) {
    (void)d;
    *bytes = (size_t)80 << 30;
    return SUCCESS;
}

/* ---- context ---- */

CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
    if (d != 0) return INVALID_VALUE;
    *c = &primary_context;
    return SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *c) { *c = current_context; return SUCCESS; }
CUresult cuCtxSetCurrent(CUcontext c) { current_context = c; return SUCCESS; }
#define NEED_CONTEXT() do { if (current_context != &primary_context) return INVALID_CONTEXT; } while (0)
CUresult cuCtxSynchronize(void) { NEED_CONTEXT(); return SUCCESS; }

/* ---- memory ---- */

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
    NEED_CONTEXT();
    *free_bytes = (size_t)79 << 30;
    *total = (size_t)80 << 30;
    return SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
    NEED_CONTEXT();
    if (bytes == 0) return INVALID_VALUE;
    if (bytes > ((size_t)1 << 40)) return OUT_OF_MEMORY;
    void *m = malloc(bytes);
    if (!m) return OUT_OF_MEMORY;
    live_allocations++;
    *p = (CUdeviceptr)(uintptr_t)m;
    return SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
    NEED_CONTEXT();
    free((void *)(uintptr_t)p);
    live_allocations--;
    return SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
    NEED_CONTEXT();
    memcpy((void *)(uintptr_t)dst, src, n);
    return SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    NEED_CONTEXT();
    memcpy(dst, (void *)(uintptr_t)src, n);
    return SUCCESS;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    NEED_CONTEXT();
    memmove((void *)(uintptr_t)dst, (void *)(uintptr_t)src, n);
    return SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
    (void)s;
    return cuMemcpyHtoD_v2(dst, src, n);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    (void)s;
    return cuMemcpyDtoH_v2(dst, src, n);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    (void)s;
    return cuMemcpyDtoD_v2(dst, src, n);
}

/* ---- streams and events ---- */

CUresult cuStreamCreate(CUstream *s, unsigned flags) {
    NEED_CONTEXT();
    (void)flags;
    *s = malloc(1);
    live_streams++;
    return SUCCESS;
}

CUresult cuStreamSynchronize(CUstream s) { (void)s; NEED_CONTEXT(); return SUCCESS; }

CUresult cuStreamDestroy_v2(CUstream s) {
    NEED_CONTEXT();
    free(s);
    live_streams--;
    return SUCCESS;
}

CUresult cuEventCreate(CUevent *e, unsigned flags) {
    NEED_CONTEXT();
    (void)flags;
    *e = calloc(1, sizeof(double));
    live_events++;
    return SUCCESS;
}

CUresult cuEventRecord(CUevent e, CUstream s) {
    struct timespec t;
    (void)s;
    NEED_CONTEXT();
    clock_gettime(CLOCK_MONOTONIC, &t);
    *(double *)e = t.tv_sec * 1e3 + t.tv_nsec / 1e6;
    return SUCCESS;
}

CUresult cuEventSynchronize(CUevent e) { (void)e; NEED_CONTEXT(); return SUCCESS; }

/* Only the pre-12.8 name: the bindings must fall back to it from cuEventElapsedTime_v2. */
CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end) {
    NEED_CONTEXT();
    *ms = (float)(*(double *)end - *(double *)start);
    return SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent e) {
    NEED_CONTEXT();
    free(e);
    live_events--;
    return SUCCESS;
}

/* ---- modules and launches ---- */

static void write_log(unsigned n, const int *options, void **values, int buffer_option,
                      const char *text) {
    char *buffer = NULL;
    size_t size = 0;
    for (unsigned i = 0; i < n; i++) {
        if (options[i] == buffer_option) buffer = values[i];
        if (options[i] == buffer_option + 1) size = (size_t)(uintptr_t)values[i];
    }
    if (buffer && size) {
        strncpy(buffer, text, size - 1);
        buffer[size - 1] = 0;
    }
}

CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned n, int *options,
                            void **values) {
    NEED_CONTEXT();
    if (!strstr(image, ".entry")) {
        write_log(n, options, values, 5, "fake JIT: line 1: no .entry in this image");
        return INVALID_PTX;
    }
    write_log(n, options, values, 3, "fake JIT: loaded");
    *m = strdup(image);
    live_modules++;
    return SUCCESS;
}

CUresult cuModuleUnload(CUmodule m) {
    NEED_CONTEXT();
    free(m);
    live_modules--;
    return SUCCESS;
}

typedef struct { char name[64]; } Function;

CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
    NEED_CONTEXT();
    for (const char *p = strstr(m, ".entry "); p; p = strstr(p + 1, ".entry ")) {
        const char *start = p + 7;
        size_t len = strlen(name);
        if (strncmp(start, name, len) == 0 && (start[len] == '(' || start[len] == ' ' ||
                                               start[len] == '\n')) {
            Function *fn = calloc(1, sizeof *fn);
            strncpy(fn->name, name, sizeof fn->name - 1);
            *f = fn;
            return SUCCESS;
        }
    }
    return NOT_FOUND;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, CUstream s, void **params,
                        void **extra) {
    NEED_CONTEXT();
    if (extra || (unsigned long)bx * by * bz > 1024) return INVALID_VALUE;
    unsigned launch[7] = {gx, gy, gz, bx, by, bz, shared};
    memcpy(last_launch, launch, sizeof launch);
    last_stream = s;
    const char *name = ((Function *)f)->name;
    if (strcmp(name, "saxpy") == 0) {        /* (i64 n, f32 a, f32* x, f32* y, f32* out) */
        int64_t n = *(int64_t *)params[0];
        float a = *(float *)params[1];
        float *x = *(float **)params[2], *y = *(float **)params[3], *out = *(float **)params[4];
        for (int64_t i = 0; i < n; i++) out[i] = a * x[i] + y[i];
    } else if (strcmp(name, "affine_i32") == 0) {  /* (i32* out, i32 start, i32 step, u64 n) */
        int32_t *out = *(int32_t **)params[0];
        int32_t start = *(int32_t *)params[1], step = *(int32_t *)params[2];
        uint64_t n = *(uint64_t *)params[3];
        for (uint64_t i = 0; i < n; i++) out[i] = start + (int32_t)i * step;
    }
    return SUCCESS;
}
