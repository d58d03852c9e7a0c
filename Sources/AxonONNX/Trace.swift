import AxonCore
import AxonNN

/// The export of a module with no form of its own: its forward pass runs once with ``ExportTrace`` on, and the graph
/// it records (the define-by-run graph autodiff keeps) becomes ONNX nodes. A built-in layer called inside marks its
/// output (``/AxonNN/Module/traced(_:from:)``), so it is written in its own form; the ops between layers are written
/// one by one. An op with no ONNX form stops the export with an error that names it.
enum ONNXTrace {
    static func export(_ layer: any Layer, path: String, input x: ONNXValue, to g: inout ONNXGraph) throws -> ONNXValue {
        // A leaf that requires gradients, so every op on the data is recorded.
        let source = x.value.detached().requiringGrad()
        let output = withGrad { ExportTrace.tracing { layer(source) } }
        var tracer = Tracer(root: layer, path: path, source: source, sourceName: x.name)
        let name = try tracer.name(of: output, &g)
        return ONNXValue(name: name, value: output.detached())
    }

    struct Tracer {
        let root: Module
        let path: String
        var names: [ObjectIdentifier: String] = [:]
        var parameters: [ObjectIdentifier: String] = [:]
        var modules: [ObjectIdentifier: String] = [:]
        /// The tensors named so far, kept alive so that their identities stay theirs.
        var kept: [Tensor] = []

        init(root: Module, path: String, source: Tensor, sourceName: String) {
            self.root = root
            self.path = path
            names[ObjectIdentifier(source)] = sourceName
            kept.append(source)
            for (name, t) in root.namedParameters() { parameters[ObjectIdentifier(t)] = path.isEmpty ? name : "\(path).\(name)" }
            for (name, b) in root.namedBuffers() { parameters[ObjectIdentifier(b.wrappedValue)] = path.isEmpty ? name : "\(path).\(name)" }
            for (name, m) in root.namedModules(prefix: path) where modules[ObjectIdentifier(m)] == nil { modules[ObjectIdentifier(m)] = name }
        }

        func where_() -> String { "\(type(of: root))\(path.isEmpty ? "" : " ('\(path)')")" }

        /// The graph name of `t`: the traced input, a parameter, a constant, or the output of the nodes written for its op.
        mutating func name(of t: Tensor, _ g: inout ONNXGraph) throws -> String {
            if let known = names[ObjectIdentifier(t)] { return known }
            let written: String
            if let fn = t.gradFn {
                written = try node(fn, output: t, &g)
            } else if let parameter = parameters[ObjectIdentifier(t)] {
                written = g.parameter(t, name: parameter)
            } else {
                written = g.initializer(t.detached().contiguous(), name: path.isEmpty ? "constant" : "\(path).constant")
            }
            names[ObjectIdentifier(t)] = written
            kept.append(t)
            return written
        }

        func ints(_ fn: GradFn, _ key: String) throws -> [Int] {
            guard case .ints(let v)? = fn.traced[key] else { throw missing(fn, key) }
            return v
        }
        func int(_ fn: GradFn, _ key: String) throws -> Int {
            guard case .int(let v)? = fn.traced[key] else { throw missing(fn, key) }
            return v
        }
        func missing(_ fn: GradFn, _ key: String) -> ONNXError {
            ONNXError("export: op '\(fn.name)' in \(where_()) did not record its '\(key)'")
        }

        mutating func node(_ fn: GradFn, output t: Tensor, _ g: inout ONNXGraph) throws -> String {
            let at = path
            if fn.name == "module", case .object(let object)? = fn.traced["module"], let module = object as? Module {
                let input = fn.inputs[0]
                let inputName = try name(of: input, &g)
                let modulePath = modules[ObjectIdentifier(module)] ?? at
                return try ONNXForms.emit(module, path: modulePath, input: ONNXValue(name: inputName, value: input.detached()), to: &g).name
            }
            var inputs: [String] = []
            for input in fn.inputs { inputs.append(try name(of: input, &g)) }
            func one(_ op: String, _ attributes: [String: ONNXAttribute] = [:]) -> String { g.add1(op, inputs, attributes, name: at) }
            let elementwise = ["add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
                               "eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
                               "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin", "tanh": "Tanh", "sigmoid": "Sigmoid",
                               "relu": "Relu", "erf": "Erf", "sign": "Sign", "matmul": "MatMul", "clone": "Identity"]
            if let op = elementwise[fn.name] { return one(op) }
            let dtypeCode = Int(ONNXTensors.code(t.dtype))
            switch fn.name {
            case "gelu":
                return ONNXForms.gelu(ONNXValue(name: inputs[0], value: fn.inputs[0]), approximate: false, path: at, to: &g)
            case "ne":
                return g.add1("Not", [one("Equal")], name: at)
            case "log1p":
                return g.add1("Log", [g.add1("Add", [inputs[0], g.scalar(1, like: fn.inputs[0], name: "\(at).one")], name: at)], name: at)
            case "step":
                let positive = g.add1("Greater", [inputs[0], g.scalar(0, like: fn.inputs[0], name: "\(at).zero")], name: at)
                return g.add1("Cast", [positive], ["to": .int(dtypeCode)], name: at)
            case _ where fn.name.hasPrefix("to("):
                return one("Cast", ["to": .int(dtypeCode)])
            case "where":
                guard case .tensor(let condition)? = fn.traced["condition"] else { throw missing(fn, "condition") }
                var c = try name(of: condition, &g)
                if condition.dtype != .bool { c = g.add1("Cast", [c], ["to": .int(9)], name: at) }
                return g.add1("Where", [c] + inputs, name: at)
            case "sum":
                let axes = try ints(fn, "axes"), keep = try int(fn, "keepDims")
                return g.add1("ReduceSum", [inputs[0], g.ints(axes, name: "\(at).axes")], ["keepdims": .int(keep)], name: at)
            case "max":
                let axes = try ints(fn, "axes"), keep = try int(fn, "keepDims")
                if g.opset >= 18 { return g.add1("ReduceMax", [inputs[0], g.ints(axes, name: "\(at).axes")], ["keepdims": .int(keep)], name: at) }
                return one("ReduceMax", ["axes": .ints(axes), "keepdims": .int(keep)])
            case "softmax": return one("Softmax", ["axis": .int(-1)])
            case "logSoftmax": return one("LogSoftmax", ["axis": .int(-1)])
            case "addmm":  // x·Wᵀ + b
                if fn.inputs[0].rank == 2 { return one("Gemm", ["transB": .int(1)]) }
                let product = g.add1("MatMul", [inputs[0], g.add1("Transpose", [inputs[1]], ["perm": .ints([1, 0])], name: at)], name: at)
                return inputs.count > 2 ? g.add1("Add", [product, inputs[2]], name: at) : product
            case "conv2d":
                let p = try ints(fn, "pads")
                return one("Conv", ["kernel_shape": .ints(Array(fn.inputs[1].shape[2...])), "strides": .ints(try ints(fn, "strides")),
                                    "pads": .ints([p[0], p[1], p[0], p[1]]), "dilations": .ints(try ints(fn, "dilations"))])
            case "maxPool2d", "avgPool2d":
                let p = try ints(fn, "pads")
                var attributes: [String: ONNXAttribute] = ["kernel_shape": .ints(try ints(fn, "kernel")), "strides": .ints(try ints(fn, "strides")),
                                                           "pads": .ints([p[0], p[1], p[0], p[1]])]
                if fn.name == "maxPool2d" { attributes["dilations"] = .ints(try ints(fn, "dilations")) } else { attributes["count_include_pad"] = .int(1) }
                return one(fn.name == "maxPool2d" ? "MaxPool" : "AveragePool", attributes)
            case "reshape":
                return g.add1("Reshape", [inputs[0], g.ints(reshapeTarget(from: fn.inputs[0].shape, to: t.shape), name: "\(at).shape")], name: at)
            case "expand":
                // 1 where the input keeps its size, so the batch stays free.
                let s = fn.inputs[0].shape, lead = t.rank - s.count
                let target = t.shape.enumerated().map { i, d in i >= lead && s[i - lead] == d ? 1 : d }
                return g.add1("Expand", [inputs[0], g.ints(target, name: "\(at).shape")], name: at)
            case "permute":
                return one("Transpose", ["perm": .ints(try ints(fn, "perm"))])
            case "slice":
                let axis = try int(fn, "axis"), range = try ints(fn, "range")
                return g.add1("Slice", [inputs[0], g.ints([range[0]], name: "\(at).start"), g.ints([range[1]], name: "\(at).end"),
                                        g.ints([axis], name: "\(at).axes")], name: at)
            case "concat":
                return one("Concat", ["axis": .int(try int(fn, "axis"))])
            case "indexSelect", "gather":
                // Flat positions into the row-major input (their count fixes the shapes).
                guard case .tensor(let index)? = fn.traced["index"] else { throw missing(fn, "index") }
                let flat = g.add1("Reshape", [inputs[0], g.ints([-1], name: "\(at).flat")], name: at)
                let picked = g.add1("Gather", [flat, g.initializer(index.contiguous(), name: "\(at).index")], ["axis": .int(0)], name: at)
                return g.add1("Reshape", [picked, g.ints(t.shape, name: "\(at).shape")], name: at)
            default:
                throw ONNXError("export: op '\(fn.name)' in \(where_()) has no ONNX form")
            }
        }

        /// The target of a Reshape, with the first axis (the batch's, or the batch merged with others) left free: 0 (copy)
        /// where it is kept, −1 otherwise (the other axes fix it, so the export's own batch gives the same shape).
        func reshapeTarget(from input: [Int], to output: [Int]) -> [Int] {
            guard let n = input.first, let first = output.first, output.dropFirst().allSatisfy({ $0 > 0 }) else { return output }
            var target = output
            target[0] = first == n ? 0 : -1
            return target
        }
    }
}
