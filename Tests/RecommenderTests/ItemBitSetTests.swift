import Testing
import Recommender

@Suite("ItemBitSet: the serving path's per-request item sets")
struct ItemBitSetTests {
    @Test("members at word boundaries and the catalog's last index; nothing else")
    func membership() {
        let members: [Int32] = [0, 63, 64, 127, 128, 1681]
        let set = ItemBitSet(itemCount: 1682, members)
        for index in 0..<1682 {
            #expect(set.contains(index) == members.contains(Int32(index)), "index \(index)")
        }
        #expect(!ItemBitSet(itemCount: 1682).contains(Int32(5)))
    }

    @Test("the same members in any order (and repeated) make equal sets")
    func orderIndependent() {
        var set = ItemBitSet(itemCount: 200)
        for item: Int32 in [199, 3, 3, 70] { set.insert(item) }
        #expect(set == ItemBitSet(itemCount: 200, [3, 70, 199]))
        #expect(set != ItemBitSet(itemCount: 200, [3, 70]))
    }
}
