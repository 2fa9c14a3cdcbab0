import Events
import Testing

@Suite("A movie title's year: one rule for the datasets and for what people type")
struct MovieTitleTests {
    @Test("a trailing year from 1870 to 2100, or a range's first year, is split off; anything else stays in the title")
    func splitYear() {
        #expect(MovieTitle.splitYear("Toy Story (1995)") == ("Toy Story", 1995))
        #expect(MovieTitle.splitYear("  toy story (1995)\t") == ("toy story", 1995))
        #expect(MovieTitle.splitYear("Toy Story") == ("Toy Story", nil))
        // The newer MovieLens files: a series' years.
        #expect(MovieTitle.splitYear("Doctor Who (2005-2013)") == ("Doctor Who", 2005))
        // An alternate title in parentheses is not a year (TitleIndex reads it as a second key).
        #expect(MovieTitle.splitYear("Horseman on the Roof, The (Hussard sur le toit, Le)") == ("Horseman on the Roof, The (Hussard sur le toit, Le)", nil))
        #expect(MovieTitle.splitYear("Horseman on the Roof, The (Hussard sur le toit, Le) (1995)") == ("Horseman on the Roof, The (Hussard sur le toit, Le)", 1995))
        #expect(MovieTitle.splitYear("(500) Days of Summer (2009)") == ("(500) Days of Summer", 2009))
        // Outside 1870–2100: part of the title.
        #expect(MovieTitle.splitYear("Movie (1492)") == ("Movie (1492)", nil))
        #expect(MovieTitle.splitYear("Movie (-123)") == ("Movie (-123)", nil))
        #expect(MovieTitle.splitYear("   ") == ("", nil))
    }
}
