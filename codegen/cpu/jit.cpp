// ORC LLJIT loading and the generic call path of entry functions (jit.h).
#include "codegen/cpu/jit.h"

#include <algorithm>
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "codegen/cpu/cache.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ExecutionEngine/Orc/Core.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/JITLink/JITLink.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/BinaryFormat/Magic.h"
#include "llvm/Object/Archive.h"
#include "llvm/Support/TargetSelect.h"

namespace tessera::codegen {
namespace {

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Row-major strides. A shape whose element count overflows int64 (which an entry rejects before
// reading data) gets saturated strides instead of an overflow.
std::vector<int64_t> row_major_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t running = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = running;
    if (__builtin_mul_overflow(running, shape[i], &running)) running = std::numeric_limits<int64_t>::max();
  }
  return strides;
}

// The bytes a tensor's elements span, [first, last).
std::pair<uintptr_t, uintptr_t> byte_span(const RtValue& t) {
  int64_t lo = 0, hi = 0;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (t.shape[d] == 0) return {0, 0};
    int64_t reach = (t.shape[d] - 1) * t.strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  auto base = reinterpret_cast<uintptr_t>(t.data);
  int64_t size = dtype_size(t.dtype);
  return {base + lo * size, base + (hi + 1) * size};
}

bool overlap(const RtValue& a, const RtValue& b) {
  auto [a0, a1] = byte_span(a);
  auto [b0, b1] = byte_span(b);
  return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1;
}

RtValue::Kind scalar_kind(DType dtype) {
  switch (dtype) {
    case DType::I1: return RtValue::Kind::I1;
    case DType::I32: return RtValue::Kind::I32;
    case DType::F32: return RtValue::Kind::F32;
    case DType::F64: return RtValue::Kind::F64;
    default: return RtValue::Kind::I64;
  }
}

const char* kind_name(RtValue::Kind kind) {
  switch (kind) {
    case RtValue::Kind::Tensor: return "tensor";
    case RtValue::Kind::I1: return "i1";
    case RtValue::Kind::I32: return "i32";
    case RtValue::Kind::I64: return "i64";
    case RtValue::Kind::F32: return "f32";
    case RtValue::Kind::F64: return "f64";
  }
  return "?";
}

// Why `value` cannot be passed as `type`; empty when it can.
std::string mismatch(const ValueType& type, const RtValue& value) {
  if (!type.is_tensor) {
    if (value.kind == scalar_kind(type.dtype)) return "";
    return "expected " + type.str() + ", got " + (value.is_tensor() ? value.str() : kind_name(value.kind));
  }
  bool same = value.is_tensor() && value.dtype == type.dtype && value.shape_matches(type);
  if (same) return "";
  return "expected " + type.str() + ", got " + (value.is_tensor() ? value.str() : kind_name(value.kind));
}

// What the compiled code assumes of a call before it touches data: each argument of its
// parameter's kind, dtype, rank and static sizes; tensor sizes that are not negative, whose
// element count and byte size fit in int64_t, with data unless empty; and one value per
// symbolic dimension. Empty when the call is valid, else the message.
std::string check_arguments(const EntrySignature& entry, llvm::ArrayRef<RtValue> args) {
  std::vector<std::vector<int64_t>> shapes(args.size());
  for (size_t i = 0; i < args.size() && i < entry.params.size(); ++i) {
    const ValueType& param = entry.params[i];
    const RtValue& arg = args[i];
    if (std::string why = mismatch(param, arg); !why.empty()) return describe_param(entry, i) + ": " + why;
    if (!param.is_tensor) continue;
    int64_t bytes = dtype_size(arg.dtype);
    for (size_t d = 0; d < arg.shape.size(); ++d) {
      if (arg.shape[d] < 0)
        return describe_param(entry, i) + ": dimension " + std::to_string(d) + " is negative (" +
               std::to_string(arg.shape[d]) + ")";
      if (__builtin_mul_overflow(bytes, arg.shape[d], &bytes))
        return describe_param(entry, i) + ": the shape " + arg.str() + " has more bytes than int64_t can count";
    }
    if (arg.strides.size() != arg.shape.size())
      return describe_param(entry, i) + ": " + std::to_string(arg.strides.size()) + " strides for rank " +
             std::to_string(arg.shape.size());
    if (bytes > 0 && arg.data == nullptr) return describe_param(entry, i) + ": the data pointer is null";
    shapes[i] = arg.shape;
  }
  return check_symbolic_dims(entry, shapes);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RtValue

RtValue RtValue::from_i1(bool value) {
  RtValue v;
  v.kind = Kind::I1;
  v.int_value = value ? 1 : 0;
  return v;
}
RtValue RtValue::from_i32(int32_t value) {
  RtValue v;
  v.kind = Kind::I32;
  v.int_value = value;
  return v;
}
RtValue RtValue::from_i64(int64_t value) {
  RtValue v;
  v.kind = Kind::I64;
  v.int_value = value;
  return v;
}
RtValue RtValue::from_f32(float value) {
  RtValue v;
  v.kind = Kind::F32;
  v.float_value = value;
  return v;
}
RtValue RtValue::from_f64(double value) {
  RtValue v;
  v.kind = Kind::F64;
  v.float_value = value;
  return v;
}

RtValue RtValue::tensor_view(DType dtype, std::vector<int64_t> shape, void* data, std::vector<int64_t> strides) {
  RtValue v;
  v.kind = Kind::Tensor;
  v.dtype = dtype;
  v.strides = strides.empty() ? row_major_strides(shape) : std::move(strides);
  v.shape = std::move(shape);
  v.data = data;
  return v;
}

RtValue RtValue::tensor_zeros(DType dtype, std::vector<int64_t> shape) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  size_t bytes = static_cast<size_t>(count * dtype_size(dtype));
  // aligned_alloc wants a multiple of the alignment (and a size > 0 to return a unique pointer).
  size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* buffer = std::aligned_alloc(64, rounded);
  std::memset(buffer, 0, rounded);
  RtValue v = tensor_view(dtype, std::move(shape), buffer);
  v.owner = std::shared_ptr<void>(buffer, std::free);
  return v;
}

int64_t RtValue::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

bool RtValue::shape_matches(const ValueType& type) const {
  if (shape.size() != type.shape.size()) return false;
  for (size_t d = 0; d < shape.size(); ++d)
    if (type.shape[d] != ValueType::kDynamic && type.shape[d] != shape[d]) return false;
  return true;
}

bool RtValue::contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

RtValue RtValue::contiguous_copy() const {
  RtValue copy = tensor_zeros(dtype, shape);
  int64_t size = dtype_size(dtype), count = numel(), rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> index(rank, 0);
  auto* out = static_cast<char*>(copy.data);
  for (int64_t n = 0; n < count; ++n) {
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d) offset += index[d] * strides[d];
    std::memcpy(out + n * size, static_cast<const char*>(data) + offset * size, size);
    for (int64_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return copy;
}

std::string RtValue::str() const {
  switch (kind) {
    case Kind::Tensor: {
      ValueType type;
      type.is_tensor = true;
      type.dtype = dtype;
      type.shape = shape;
      return type.str();
    }
    case Kind::I1: return std::string("i1 ") + (int_value ? "true" : "false");
    case Kind::I32:
    case Kind::I64: return std::string(kind_name(kind)) + " " + std::to_string(int_value);
    case Kind::F32:
    case Kind::F64: return std::string(kind_name(kind)) + " " + std::to_string(float_value);
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// JitModule

struct JitModule::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::vector<EntrySignature> entries;
  // Entry name -> _tess_packed_<name>.
  llvm::StringMap<void (*)(void**)> packed;
  // The deallocator matching the allocator of the compiled code.
  void (*free_fn)(void*) = nullptr;
  CompileStats stats;
  std::string cache_warning;
  // Errors ORC reports asynchronously (e.g. unresolved symbols), appended to lookup failures.
  std::shared_ptr<std::string> session_errors = std::make_shared<std::string>();
};

JitModule::JitModule(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JitModule::~JitModule() = default;

const std::vector<EntrySignature>& JitModule::entries() const { return impl_->entries; }
const CompileStats& JitModule::stats() const { return impl_->stats; }
const std::string& JitModule::cache_warning() const { return impl_->cache_warning; }

const EntrySignature* JitModule::find_entry(llvm::StringRef name) const {
  for (const EntrySignature& entry : impl_->entries)
    if (entry.name == name) return &entry;
  return nullptr;
}

llvm::Expected<void*> JitModule::lookup(llvm::StringRef symbol) {
  impl_->session_errors->clear();
  llvm::Expected<llvm::orc::ExecutorAddr> address = impl_->jit->lookup(symbol);
  if (!address) {
    std::string message = llvm::toString(address.takeError());
    if (!impl_->session_errors->empty()) message += " (" + *impl_->session_errors + ")";
    return llvm::createStringError("cannot link the compiled code: %s", message.c_str());
  }
  return address->toPtr<void*>();
}

namespace {

// $TESSERA_PERF_MAP=1: every function of a loaded object, local ones included (the outlined
// parallel bodies, the matmul micro-kernels), goes to /tmp/perf-PID.map as "START SIZE NAME",
// the file `perf report` reads to name JIT-compiled code.
class PerfMapPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    config.PostFixupPasses.push_back([](llvm::jitlink::LinkGraph& graph) {
      static std::mutex mutex;
      std::lock_guard lock(mutex);
      std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
      if (FILE* f = std::fopen(path.c_str(), "a")) {
        for (llvm::jitlink::Symbol* symbol : graph.defined_symbols())
          if (symbol->hasName() && symbol->isCallable() && symbol->getSize() > 0)
            std::fprintf(f, "%llx %llx %s\n", static_cast<unsigned long long>(symbol->getAddress().getValue()),
                         static_cast<unsigned long long>(symbol->getSize()), symbol->getName().str().c_str());
        std::fclose(f);
      }
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override { return llvm::Error::success(); }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey, llvm::orc::ResourceKey) override {}
};

bool perf_map_wanted() {
  const char* env = std::getenv("TESSERA_PERF_MAP");
  return env && *env && std::strcmp(env, "0") != 0;
}

}  // namespace

llvm::Expected<std::unique_ptr<JitModule>> JitModule::load(std::unique_ptr<llvm::MemoryBuffer> object,
                                                           std::vector<EntrySignature> entries,
                                                           const JitOptions& jit_options) {
  auto start = std::chrono::steady_clock::now();
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto impl = std::make_unique<Impl>();
  impl->entries = std::move(entries);
  llvm::Expected<llvm::orc::JITTargetMachineBuilder> machine = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!machine) return machine.takeError();
  llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> jit =
      llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*machine)).create();
  if (!jit) return jit.takeError();
  impl->jit = std::move(*jit);
  if (perf_map_wanted())
    if (auto* linker = llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&impl->jit->getObjLinkingLayer()))
      linker->addPlugin(std::make_unique<PerfMapPlugin>());
  std::shared_ptr<std::string> session_errors = impl->session_errors;
  impl->jit->getExecutionSession().setErrorReporter([session_errors](llvm::Error error) {
    if (!session_errors->empty()) *session_errors += "; ";
    *session_errors += llvm::toString(std::move(error));
  });

  llvm::orc::JITDylib& dylib = impl->jit->getMainJITDylib();
  char prefix = impl->jit->getDataLayout().getGlobalPrefix();
  if (!jit_options.symbols.empty()) {
    llvm::orc::SymbolMap symbols;
    for (const auto& [name, address] : jit_options.symbols)
      symbols[impl->jit->mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                                   llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
    if (llvm::Error error = dylib.define(llvm::orc::absoluteSymbols(std::move(symbols)))) return std::move(error);
  }
  // The buffer cache the compiled code allocates through (tessBufferAlloc / tessBufferFree):
  // the runtime's when the caller passed its symbols or the process exports them, otherwise the
  // C library's malloc and free (a JIT without the runtime still runs).
  bool has_buffer_cache = false;
  for (const auto& [name, address] : jit_options.symbols) has_buffer_cache |= name == "tessBufferAlloc";
  if (!has_buffer_cache) {
    void* alloc = dlsym(RTLD_DEFAULT, "tessBufferAlloc");
    void* release = dlsym(RTLD_DEFAULT, "tessBufferFree");
    if (!alloc || !release) {
      alloc = reinterpret_cast<void*>(&std::malloc);
      release = reinterpret_cast<void*>(&std::free);
    }
    llvm::orc::SymbolMap fallback;
    fallback[impl->jit->mangleAndIntern("tessBufferAlloc")] = {llvm::orc::ExecutorAddr::fromPtr(alloc),
                                                               llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
    fallback[impl->jit->mangleAndIntern("tessBufferFree")] = {llvm::orc::ExecutorAddr::fromPtr(release),
                                                              llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
    if (llvm::Error error = dylib.define(llvm::orc::absoluteSymbols(std::move(fallback)))) return std::move(error);
  }
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix);
  if (!process) return process.takeError();
  dylib.addGenerator(std::move(*process));
  std::vector<std::string> libraries = {"libm.so.6"};
  libraries.insert(libraries.end(), jit_options.libraries.begin(), jit_options.libraries.end());
  for (const std::string& library : libraries) {
    auto generator = llvm::orc::DynamicLibrarySearchGenerator::Load(library.c_str(), prefix);
    if (!generator)
      return llvm::createStringError("cannot load %s: %s", library.c_str(),
                                     llvm::toString(generator.takeError()).c_str());
    dylib.addGenerator(std::move(*generator));
  }
  // A module compiled in partitions is an archive of their objects: every member is linked.
  if (llvm::identify_magic(object->getBuffer()) == llvm::file_magic::archive) {
    llvm::Expected<std::unique_ptr<llvm::object::Archive>> archive =
        llvm::object::Archive::create(object->getMemBufferRef());
    if (!archive) return archive.takeError();
    llvm::Error children = llvm::Error::success();
    for (const llvm::object::Archive::Child& child : (*archive)->children(children)) {
      llvm::Expected<llvm::MemoryBufferRef> member = child.getMemoryBufferRef();
      if (!member) return member.takeError();
      if (llvm::Error error = impl->jit->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(
              member->getBuffer(), member->getBufferIdentifier())))
        return std::move(error);
    }
    if (children) return std::move(children);
  } else if (llvm::Error error = impl->jit->addObjectFile(std::move(object))) {
    return std::move(error);
  }

  std::unique_ptr<JitModule> module(new JitModule(std::move(impl)));
  // Link now rather than at the first call, so that missing symbols show at compile time and
  // the link time is measured.
  for (const EntrySignature& entry : module->impl_->entries) {
    llvm::Expected<void*> address = module->lookup("_tess_packed_" + entry.name);
    if (!address) return address.takeError();
    module->impl_->packed[entry.name] = reinterpret_cast<void (*)(void**)>(*address);
  }
  llvm::Expected<void*> free_address = module->lookup("free");
  if (!free_address) return free_address.takeError();
  module->impl_->free_fn = reinterpret_cast<void (*)(void*)>(*free_address);
  module->impl_->stats.jit_link_ms = elapsed_ms(start);
  return module;
}

llvm::Expected<std::unique_ptr<JitModule>> JitModule::compile(mlir::ModuleOp module, const CpuOptions& options,
                                                              const JitOptions& jit_options) {
  CompileStats stats;
  std::string dir = jit_options.use_cache
                        ? (jit_options.cache_dir.empty() ? default_cache_dir() : jit_options.cache_dir)
                        : std::string();
  std::string key, lookup_warning;
  if (!dir.empty()) {
    auto start = std::chrono::steady_clock::now();
    llvm::Expected<std::string> computed = cache_key(module, options, ObjectKind::Jit);
    if (!computed) return computed.takeError();
    key = std::move(*computed);
    std::unique_ptr<llvm::MemoryBuffer> cached = ObjectCache(dir).lookup(key, &lookup_warning);
    stats.cache_lookup_ms = elapsed_ms(start);
    if (cached) {
      start = std::chrono::steady_clock::now();
      llvm::Expected<std::vector<EntrySignature>> entries = collect_entry_signatures(module);
      if (!entries) return entries.takeError();
      stats.signature_ms = elapsed_ms(start);
      llvm::Expected<std::unique_ptr<JitModule>> loaded = load(std::move(cached), std::move(*entries), jit_options);
      if (loaded) {
        stats.cache_hit = true;
        stats.jit_link_ms = (*loaded)->impl_->stats.jit_link_ms;
        (*loaded)->impl_->stats = stats;
        return loaded;
      }
      // An entry that passed its hash check but does not link (a stale format) is recompiled
      // and overwritten, with a warning.
      lookup_warning = "ignoring the compile-cache entry " + ObjectCache(dir).path_for(key) +
                       ": it does not link (" + llvm::toString(loaded.takeError()) + "); compiling again";
    }
  }

  llvm::Expected<CompiledObject> compiled = compile_to_object(module, options, ObjectKind::Jit);
  if (!compiled) return compiled.takeError();
  std::string cache_warning = lookup_warning;
  if (!dir.empty()) {
    if (llvm::Error error = ObjectCache(dir).store(key, compiled->object))
      cache_warning += (cache_warning.empty() ? "" : "\n") + llvm::toString(std::move(error));
  }
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(compiled->object.data(), compiled->object.size()),
                                                     "tessera-jit-object");
  llvm::Expected<std::unique_ptr<JitModule>> loaded = load(std::move(buffer), compiled->entries, jit_options);
  if (!loaded) return loaded.takeError();
  double link_ms = (*loaded)->impl_->stats.jit_link_ms;
  (*loaded)->impl_->stats = compiled->stats;
  (*loaded)->impl_->stats.cache_lookup_ms = stats.cache_lookup_ms;
  (*loaded)->impl_->stats.jit_link_ms = link_ms;
  (*loaded)->impl_->cache_warning = std::move(cache_warning);
  return loaded;
}

llvm::Expected<std::vector<RtValue>> JitModule::invoke(llvm::StringRef name, llvm::ArrayRef<RtValue> args) {
  const EntrySignature* entry = find_entry(name);
  if (!entry) {
    std::string known;
    for (const EntrySignature& e : impl_->entries) known += (known.empty() ? "" : ", ") + e.name;
    return llvm::createStringError("no entry function '%s' (entries: %s)", name.str().c_str(),
                                   known.empty() ? "none" : known.c_str());
  }
  if (args.size() != entry->params.size())
    return llvm::createStringError("entry '%s' takes %zu arguments, got %zu", entry->name.c_str(), entry->params.size(),
                                   args.size());

  if (std::string why = check_arguments(*entry, args); !why.empty())
    return llvm::createStringError("entry '%s', %s", entry->name.c_str(), why.c_str());

  // Storage for everything the packed wrapper's slots point at; sized up front so that the
  // addresses stay put.
  size_t count = entry->params.size();
  std::vector<void*> slots;
  slots.reserve(count + 2);
  std::vector<std::vector<int64_t>> descriptors(count);
  std::vector<void*> descriptor_pointers(count);
  std::vector<RtValue> copies(count);
  std::vector<uint64_t> scalars(count + 1, 0);
  ResultLayout layout = result_layout(*entry);
  std::vector<uint64_t> result_words(layout.size / 8 + 1, 0);
  void* result_pointer = result_words.data();
  if (entry->results_through_pointer()) slots.push_back(&result_pointer);

  for (size_t i = 0; i < count; ++i) {
    const ValueType& param = entry->params[i];
    const RtValue& arg = args[i];
    if (!param.is_tensor) {
      void* slot = &scalars[i];
      switch (arg.kind) {
        case RtValue::Kind::I1: *static_cast<uint8_t*>(slot) = arg.int_value != 0; break;
        case RtValue::Kind::I32: *static_cast<int32_t*>(slot) = static_cast<int32_t>(arg.int_value); break;
        case RtValue::Kind::I64: *static_cast<int64_t*>(slot) = arg.int_value; break;
        case RtValue::Kind::F32: *static_cast<float*>(slot) = static_cast<float>(arg.float_value); break;
        case RtValue::Kind::F64: *static_cast<double*>(slot) = arg.float_value; break;
        case RtValue::Kind::Tensor: break;  // excluded by mismatch()
      }
      slots.push_back(slot);
      continue;
    }
    // The compiled code indexes static shapes with row-major strides, so it gets contiguous data.
    const RtValue* tensor = &arg;
    // A donated tensor is updated in place: when it shares memory with another argument, the
    // entry gets a copy instead (else it would change that argument while reading it).
    bool shared = false;
    if (i < entry->donated.size() && entry->donated[i])
      for (size_t k = 0; k < count; ++k)
        if (k != i && args[k].is_tensor() && overlap(args[k], arg)) shared = true;
    if (!arg.contiguous() || shared) {
      copies[i] = arg.contiguous_copy();
      tensor = &copies[i];
    }
    int64_t rank = static_cast<int64_t>(tensor->shape.size());
    std::vector<int64_t>& desc = descriptors[i];
    desc.assign(3 + 2 * rank, 0);
    desc[0] = reinterpret_cast<int64_t>(tensor->data);
    desc[1] = reinterpret_cast<int64_t>(tensor->data);
    std::vector<int64_t> strides = row_major_strides(tensor->shape);
    for (int64_t d = 0; d < rank; ++d) {
      desc[3 + d] = tensor->shape[d];
      desc[3 + rank + d] = strides[d];
    }
    descriptor_pointers[i] = desc.data();
    slots.push_back(&descriptor_pointers[i]);
  }
  bool scalar_return = !entry->results_through_pointer() && entry->results.size() == 1;
  if (scalar_return) slots.push_back(&scalars[count]);

  impl_->packed.lookup(entry->name)(slots.data());

  std::vector<RtValue> results;
  std::map<void*, std::shared_ptr<void>> owners;  // results sharing one buffer share its owner
  for (size_t i = 0; i < entry->results.size(); ++i) {
    const ValueType& type = entry->results[i];
    const char* base = scalar_return ? reinterpret_cast<const char*>(&scalars[count])
                                     : reinterpret_cast<const char*>(result_words.data()) + layout.offsets[i];
    if (!type.is_tensor) {
      RtValue value;
      value.kind = scalar_kind(type.dtype);
      switch (value.kind) {
        case RtValue::Kind::I1: value.int_value = *reinterpret_cast<const uint8_t*>(base) & 1; break;
        case RtValue::Kind::I32: value.int_value = *reinterpret_cast<const int32_t*>(base); break;
        case RtValue::Kind::I64: value.int_value = *reinterpret_cast<const int64_t*>(base); break;
        case RtValue::Kind::F32: value.float_value = *reinterpret_cast<const float*>(base); break;
        case RtValue::Kind::F64: value.float_value = *reinterpret_cast<const double*>(base); break;
        case RtValue::Kind::Tensor: break;
      }
      results.push_back(std::move(value));
      continue;
    }
    const auto* desc = reinterpret_cast<const int64_t*>(base);
    int64_t rank = type.rank();
    void* allocated = reinterpret_cast<void*>(desc[0]);
    auto* aligned = reinterpret_cast<char*>(desc[1]);
    RtValue value;
    value.kind = RtValue::Kind::Tensor;
    value.dtype = type.dtype;
    value.shape.assign(desc + 3, desc + 3 + rank);
    value.strides.assign(desc + 3 + rank, desc + 3 + 2 * rank);
    value.data = aligned + desc[2] * dtype_size(type.dtype);
    // The buffer of a donated argument, updated in place: it stays with that argument's owner.
    const RtValue* donor = nullptr;
    for (size_t k = 0; k < count && !donor; ++k)
      if (k < entry->donated.size() && entry->donated[k] && !descriptors[k].empty() &&
          reinterpret_cast<void*>(descriptors[k][0]) == allocated)
        donor = copies[k].is_tensor() ? &copies[k] : &args[k];
    if (donor) {
      value.owner = donor->owner;
      results.push_back(std::move(value));
      continue;
    }
    std::shared_ptr<void>& owner = owners[allocated];
    if (!owner) owner = std::shared_ptr<void>(allocated, impl_->free_fn);
    value.owner = owner;
    results.push_back(std::move(value));
  }
  return results;
}

}  // namespace tessera::codegen
