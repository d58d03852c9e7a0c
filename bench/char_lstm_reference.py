"""A PyTorch character LSTM (embedding 16, 2 LSTM layers of 32, linear read-out) with the attribute names of Axon's
CharLSTM, its state_dict saved with safetensors, and its logits and greedy continuation for a fixed prompt:
Tests/AxonIOTests/Fixtures/char_lstm.safetensors and char_lstm.json. The weights are PyTorch's initialisation
after a few Adam steps on a short text (so the continuation is not uniform noise).
    ~/.axon-reference/bin/python bench/char_lstm_reference.py"""
import json, os
import torch
from safetensors.torch import save_file

torch.manual_seed(0)
text = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
        "it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.")
vocab = sorted(set(text.encode()))
ids = torch.tensor([vocab.index(b) for b in text.encode()])

class CharLSTM(torch.nn.Module):
    def __init__(self, v):
        super().__init__()
        self.embedding = torch.nn.Embedding(v, 16)
        self.lstm = torch.nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(32, v)
    def forward(self, x):
        return self.head(self.lstm(self.embedding(x))[0])

model = CharLSTM(len(vocab))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(60):
    x, y = ids[:-1].unsqueeze(0), ids[1:].unsqueeze(0)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, len(vocab)), y.reshape(-1))
    opt.zero_grad(); loss.backward(); opt.step()
model.eval()
prompt = [vocab.index(b) for b in b"it was the "]
with torch.no_grad():
    logits = model(torch.tensor([prompt]))
    tokens = list(prompt)
    for _ in range(40):  # greedy continuation
        tokens.append(int(model(torch.tensor([tokens]))[0, -1].argmax()))
here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "AxonIOTests", "Fixtures")
os.makedirs(here, exist_ok=True)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(here, "char_lstm.safetensors"))
with open(os.path.join(here, "char_lstm.json"), "w") as f:
    json.dump({"about": f"PyTorch {torch.__version__} (bench/char_lstm_reference.py)", "vocabulary": vocab, "prompt": prompt,
               "logits": {"shape": list(logits.shape), "data": logits.reshape(-1).tolist()}, "greedy": tokens[len(prompt):],
               "greedyText": bytes(vocab[t] for t in tokens[len(prompt):]).decode()}, f)
print("loss", float(loss), "continuation:", repr(bytes(vocab[t] for t in tokens[len(prompt):]).decode()))
