import pytest
import torch

from classifier_fn.inference.infer import Batcher


class Counting(torch.nn.Module):
    """Returns logits favouring class (first pixel value); records batch sizes."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        logits = torch.zeros(x.shape[0], 11)
        logits[torch.arange(x.shape[0]), x[:, 0, 0, 0].long()] = 5.0
        return logits


def image(label: int) -> torch.Tensor:
    t = torch.zeros(3, 224, 224)
    t[0, 0, 0] = label
    return t


def test_one_result_per_item_in_a_shared_batch():
    module = Counting()
    batcher = Batcher(module, batch_size=8, wait_ms=200, others_coming=lambda: 8).start()
    futures = [batcher.submit(image(i % 11)) for i in range(5)]
    results = [f.result(5) for f in futures]
    batcher.stop()
    assert [r.index for r in results] == [i % 11 for i in range(5)]
    assert all(0.5 < r.probability < 1 for r in results)
    assert sum(module.sizes) == 5 and max(module.sizes) > 1


def test_each_result_keeps_the_three_likeliest_classes_best_first():
    class Hesitant(torch.nn.Module):
        def forward(self, x):  # Bread, Soup, Egg close together; the rest far behind
            return torch.tensor([[2.0, 0, 1.5, 1.8, 0, 0, 0, 0, 0, -1.0, 0]]).repeat(x.shape[0], 1)

    batcher = Batcher(Hesitant(), batch_size=2, wait_ms=0).start()
    result = batcher.predict(image(0), timeout=5)
    batcher.stop()
    probs = torch.softmax(torch.tensor([2.0, 0, 1.5, 1.8, 0, 0, 0, 0, 0, -1.0, 0]), dim=0)
    assert [i for i, _ in result.top] == [0, 3, 2]
    assert [p for _, p in result.top] == pytest.approx([probs[0].item(), probs[3].item(), probs[2].item()])
    assert (result.index, result.probability) == result.top[0]


def test_a_lone_photo_does_not_wait_for_company():
    # A ten-minute batch window: if the batcher waited for it, predict() would time out.
    batcher = Batcher(Counting(), batch_size=8, wait_ms=600_000, others_coming=lambda: 1).start()
    assert batcher.predict(image(3), timeout=30).index == 3
    batcher.stop()


def test_a_failing_model_fails_its_items_and_the_batcher_goes_on():
    class FailsOnce(Counting):
        def forward(self, x):
            if not self.sizes:
                self.sizes.append(0)
                raise RuntimeError("boom")
            return super().forward(x)

    batcher = Batcher(FailsOnce(), batch_size=4, wait_ms=1, others_coming=lambda: 0).start()
    with pytest.raises(RuntimeError, match="boom"):
        batcher.predict(image(0), timeout=30)
    assert batcher.predict(image(7), timeout=30).index == 7
    batcher.stop()
