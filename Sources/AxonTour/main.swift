import Axon

// A short tour: the seed's adjoint trace, then a tiny network learning XOR by gradient descent.
let x1 = Tensor(2.0, requiresGrad: true)
let x2 = Tensor(5.0, requiresGrad: true)
let y = log(x1) + x1 * x2 - sin(x2)
y.backward()
print("y = ln(x1) + x1*x2 - sin(x2) at (2, 5):", y.item)
print("dy/dx1 =", x1.grad!.item, " dy/dx2 =", x2.grad!.item)

// XOR with one hidden layer of 8 tanh units, full-batch gradient descent.
manualSeed(0)
let inputs = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
let targets = Tensor([[0], [1], [1], [0]])
let w1 = (Tensor.randn([2, 8]) * 0.7).requiringGrad(), b1 = Tensor.zeros([8]).requiringGrad()
let w2 = (Tensor.randn([8, 1]) * 0.7).requiringGrad(), b2 = Tensor.zeros([1]).requiringGrad()
let parameters = [w1, b1, w2, b2]
for epoch in 1...2000 {
    let hidden = tanh(matmul(inputs, w1) + b1)
    let prediction = sigmoid(matmul(hidden, w2) + b2)
    let loss = ((prediction - targets) * (prediction - targets)).mean()
    for p in parameters { p.zeroGrad() }
    loss.backward()
    withNoGrad {
        for p in parameters { p.assign(p - p.grad! * 2.0) }
    }
    if epoch % 500 == 0 { print("epoch \(epoch): loss \(loss.item)") }
}
let output = withNoGrad { sigmoid(matmul(tanh(matmul(inputs, w1) + b1), w2) + b2) }
print("XOR predictions:", output.scalars.map { ($0 * 1000).rounded() / 1000 })
