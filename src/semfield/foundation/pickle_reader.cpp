// The restricted pickle reader (opcodes of protocols 2..5 that torch.save and plain containers emit).
#include "semfield/foundation/pickle_reader.h"

#include <cstring>
#include <map>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield::foundation {

namespace {

using Kind = PickleValue::Kind;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const PersistentLoader& loader, const std::filesystem::path& origin)
      : m_data(data), m_size(size), m_loader(loader), m_origin(origin) {}

  PickleRef run() {
    while (true) {
      if (m_pos >= m_size) fail("stream ends without a STOP opcode");
      m_op_pos = m_pos;
      const uint8_t op = m_data[m_pos++];
      if (op == '.') {
        if (m_stack.empty()) fail("STOP with an empty stack");
        return m_stack.back();
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    fail_input(m_origin, "", "malformed checkpoint pickle at byte {}: {}", m_op_pos, problem);
  }

  const uint8_t* take(size_t n) {
    if (n > m_size - m_pos) fail("truncated data");
    const uint8_t* p = m_data + m_pos;
    m_pos += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string read_line() {
    const size_t start = m_pos;
    while (m_pos < m_size && m_data[m_pos] != '\n') ++m_pos;
    if (m_pos >= m_size) fail("unterminated text line");
    std::string line(reinterpret_cast<const char*>(m_data + start), m_pos - start);
    ++m_pos;
    return line;
  }
  std::string read_text(size_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

  PickleRef pop() {
    if (m_stack.empty() || (!m_marks.empty() && m_stack.size() <= m_marks.back())) fail("stack underflow");
    PickleRef v = m_stack.back();
    m_stack.pop_back();
    return v;
  }
  PickleRef& top() {
    if (m_stack.empty()) fail("stack underflow");
    return m_stack.back();
  }
  std::vector<PickleRef> pop_to_mark() {
    if (m_marks.empty()) fail("no MARK on the stack");
    const size_t mark = m_marks.back();
    m_marks.pop_back();
    if (mark > m_stack.size()) fail("MARK beyond the stack");
    std::vector<PickleRef> items(m_stack.begin() + static_cast<std::ptrdiff_t>(mark), m_stack.end());
    m_stack.resize(mark);
    return items;
  }
  void push(PickleRef v) { m_stack.push_back(std::move(v)); }
  void push_int(int64_t v) {
    PickleRef r = PickleValue::make(Kind::Int);
    r->integer = v;
    push(r);
  }
  void push_text(Kind kind, std::string s) {
    PickleRef r = PickleValue::make(kind);
    r->text = std::move(s);
    push(r);
  }
  PickleRef tuple_of(std::vector<PickleRef> items) {
    PickleRef r = PickleValue::make(Kind::Tuple);
    r->items = std::move(items);
    return r;
  }
  void memo_put(uint64_t index) { m_memo[index] = top(); }
  void memo_get(uint64_t index) {
    auto it = m_memo.find(index);
    if (it == m_memo.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }
  void set_item(const PickleRef& dict, PickleRef key, PickleRef value) {
    if (dict->is(Kind::Dict)) {
      dict->entries.emplace_back(std::move(key), std::move(value));
    } else if (!dict->is(Kind::Object)) {
      fail("SETITEM on a value that is not a dict");
    }
  }
  void append(const PickleRef& list, std::vector<PickleRef> values) {
    if (list->is(Kind::List)) {
      for (auto& v : values) list->items.push_back(std::move(v));
    } else if (!list->is(Kind::Object)) {
      fail("APPEND on a value that is not a list");
    }
  }

  int64_t as_int(const PickleRef& v, const char* what) const {
    if (!v->is(Kind::Int)) fail(std::string("expected an integer for ") + what);
    return v->integer;
  }
  std::vector<int64_t> as_ints(const PickleRef& v, const char* what) const {
    if (!v->is(Kind::Tuple) && !v->is(Kind::List)) fail(std::string("expected a tuple for ") + what);
    std::vector<int64_t> out;
    for (const auto& item : v->items) out.push_back(as_int(item, what));
    return out;
  }

  // torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
  PickleRef rebuild_tensor(const PickleRef& args) {
    if (!args->is(Kind::Tuple) || args->items.size() < 4) fail("_rebuild_tensor_v2 needs at least 4 arguments");
    const PickleRef& storage = args->items[0];
    if (!storage->is(Kind::Storage)) fail("_rebuild_tensor_v2: first argument is not a storage");
    const int64_t offset = as_int(args->items[1], "storage offset");
    const std::vector<int64_t> size = as_ints(args->items[2], "tensor size");
    const std::vector<int64_t> stride = as_ints(args->items[3], "tensor stride");
    if (size.size() != stride.size()) fail("tensor size and stride differ in length");
    const int64_t available = storage->tensor.numel();
    int64_t last = offset;
    bool empty = false;
    for (size_t i = 0; i < size.size(); ++i) {
      if (size[i] < 0 || stride[i] < 0) fail("negative tensor size or stride");
      if (size[i] == 0) empty = true;
      else last += (size[i] - 1) * stride[i];
    }
    if (offset < 0 || (!empty && last >= available))
      fail("tensor view reaches beyond its storage (" + std::to_string(available) + " elements)");
    PickleRef r = PickleValue::make(Kind::Tensor);
    r->tensor = empty ? at::empty(size, storage->tensor.options())
                      : storage->tensor.as_strided(size, stride, offset);
    return r;
  }

  PickleRef call(const PickleRef& callable, const PickleRef& args) {
    if (callable->is(Kind::Global)) {
      const std::string& name = callable->text;
      if (name == "collections.OrderedDict" || name == "builtins.dict") return PickleValue::make(Kind::Dict);
      if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(args);
      if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
        if (!args->is(Kind::Tuple) || args->items.empty() || !args->items[0]->is(Kind::Tensor))
          fail("_rebuild_parameter without a tensor");
        return args->items[0];
      }
    }
    PickleRef r = PickleValue::make(Kind::Object);
    r->text = callable->is(Kind::Global) ? callable->text : "<object>";
    if (args->is(Kind::Tuple)) r->items = args->items;
    return r;
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: take(1); break;                 // PROTO
      case 0x95: take(8); break;                 // FRAME
      case '(': m_marks.push_back(m_stack.size()); break;
      case '}': push(PickleValue::make(Kind::Dict)); break;
      case ']': push(PickleValue::make(Kind::List)); break;
      case 0x8f: push(PickleValue::make(Kind::List)); break;  // EMPTY_SET (kept as a list)
      case ')': push(tuple_of({})); break;
      case 't': push(tuple_of(pop_to_mark())); break;
      case 0x85: { PickleRef a = pop(); push(tuple_of({a})); break; }
      case 0x86: { PickleRef b = pop(), a = pop(); push(tuple_of({a, b})); break; }
      case 0x87: { PickleRef c = pop(), b = pop(), a = pop(); push(tuple_of({a, b, c})); break; }
      case 'l': case 0x91: {  // LIST, FROZENSET
        PickleRef r = PickleValue::make(Kind::List);
        r->items = pop_to_mark();
        push(r);
        break;
      }
      case 'd': {
        std::vector<PickleRef> items = pop_to_mark();
        if (items.size() % 2 != 0) fail("DICT with an odd number of items");
        PickleRef r = PickleValue::make(Kind::Dict);
        for (size_t i = 0; i < items.size(); i += 2) r->entries.emplace_back(items[i], items[i + 1]);
        push(r);
        break;
      }
      case 'a': { PickleRef v = pop(); append(top(), {v}); break; }
      case 'e': case 0x90: { std::vector<PickleRef> v = pop_to_mark(); append(top(), std::move(v)); break; }
      case 's': { PickleRef v = pop(), k = pop(); set_item(top(), k, v); break; }
      case 'u': {
        std::vector<PickleRef> items = pop_to_mark();
        if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
        PickleRef dict = top();
        for (size_t i = 0; i < items.size(); i += 2) set_item(dict, items[i], items[i + 1]);
        break;
      }
      case 'N': push(PickleValue::make(Kind::None)); break;
      case 0x88: case 0x89: {
        PickleRef r = PickleValue::make(Kind::Bool);
        r->boolean = op == 0x88;
        push(r);
        break;
      }
      case 'J': push_int(static_cast<int32_t>(read_le(4))); break;
      case 'K': push_int(static_cast<int64_t>(read_le(1))); break;
      case 'M': push_int(static_cast<int64_t>(read_le(2))); break;
      case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const uint64_t n = op == 0x8a ? read_le(1) : read_le(4);
        if (n > 8) fail("integer wider than 64 bits");
        const uint64_t raw = n == 0 ? 0 : read_le(static_cast<size_t>(n));
        int64_t v = static_cast<int64_t>(raw);
        if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) v = static_cast<int64_t>(raw | (~uint64_t{0} << (8 * n)));
        push_int(v);
        break;
      }
      case 'G': {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        PickleRef r = PickleValue::make(Kind::Float);
        std::memcpy(&r->real, &bits, 8);
        push(r);
        break;
      }
      case 'X': push_text(Kind::String, read_text(read_le(4))); break;
      case 0x8c: push_text(Kind::String, read_text(read_le(1))); break;
      case 0x8d: push_text(Kind::String, read_text(read_le(8))); break;
      case 'T': push_text(Kind::Bytes, read_text(read_le(4))); break;
      case 'U': push_text(Kind::Bytes, read_text(read_le(1))); break;
      case 'B': push_text(Kind::Bytes, read_text(read_le(4))); break;
      case 'C': push_text(Kind::Bytes, read_text(read_le(1))); break;
      case 0x8e: case 0x96: push_text(Kind::Bytes, read_text(read_le(8))); break;
      case 'c': {
        std::string module = read_line();
        std::string name = read_line();
        push_text(Kind::Global, module + "." + name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleRef name = pop(), module = pop();
        if (!name->is(Kind::String) || !module->is(Kind::String)) fail("STACK_GLOBAL needs two strings");
        push_text(Kind::Global, module->text + "." + name->text);
        break;
      }
      case 'R': { PickleRef args = pop(), callable = pop(); push(call(callable, args)); break; }
      case 0x81: { PickleRef args = pop(), cls = pop(); push(call(cls, args)); break; }            // NEWOBJ
      case 0x92: { pop(); PickleRef args = pop(), cls = pop(); push(call(cls, args)); break; }     // NEWOBJ_EX
      case 'b': pop(); top(); break;  // BUILD: object state (e.g. a state dict's _metadata) is not needed
      case 'Q': {
        PickleRef pid = pop();
        if (!m_loader) fail("persistent id without a loader");
        push(m_loader(pid));
        break;
      }
      case 'q': memo_put(read_le(1)); break;
      case 'r': memo_put(read_le(4)); break;
      case 0x94: memo_put(m_memo.size()); break;
      case 'h': memo_get(read_le(1)); break;
      case 'j': memo_get(read_le(4)); break;
      case '0': pop(); break;
      case '1': pop_to_mark(); break;
      case '2': push(top()); break;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("unsupported opcode ") + hex);
      }
    }
  }

  const uint8_t* m_data;
  size_t m_size;
  size_t m_pos = 0, m_op_pos = 0;
  const PersistentLoader& m_loader;
  const std::filesystem::path& m_origin;
  std::vector<PickleRef> m_stack;
  std::vector<size_t> m_marks;
  std::map<uint64_t, PickleRef> m_memo;
};

}  // namespace

PickleRef PickleValue::make(Kind kind) {
  auto r = std::make_shared<PickleValue>();
  r->kind = kind;
  return r;
}

PickleRef read_pickle(const uint8_t* data, size_t size, const PersistentLoader& persistent_load,
                      const std::filesystem::path& origin) {
  Reader reader(data, size, persistent_load, origin);
  return reader.run();
}

bool storage_dtype(const std::string& class_name, at::ScalarType* dtype) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"torch.FloatStorage", at::kFloat},   {"torch.DoubleStorage", at::kDouble}, {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong}, {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},     {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool}};
  auto it = kTypes.find(class_name);
  if (it == kTypes.end()) return false;
  *dtype = it->second;
  return true;
}

}  // namespace semfield::foundation
