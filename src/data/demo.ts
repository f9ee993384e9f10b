// The built-in texts. KEEPER_LOG is the main job's (`mobizo finetune` with no model and no data, and
// the app's built-in text): an original corpus in a voice stories260K never writes (it learned
// TinyStories), a lighthouse keeper's terse daily log with fixed fields, so a fine-tuned adapter's
// greedy sample shows the new style and the held-out loss has room to fall. Written for this
// project (MIT, like the code). demoDocuments is a tiny grammar for tests of the random toy model.
import { mulberry32 } from '../util/random';

/** The prompt of the main job's greedy samples before and after fine-tuning. */
export const DEMO_PROMPT = 'Day 121. Wind:';

/** 120 days of a lighthouse keeper's log, one line a day (two keepers: the second takes over on day 91). */
export const KEEPER_LOG = `Day 1. Wind: north, strong. Sea: grey, rough. Lamp lit at six. Oil: two cans. Note: the new keeper came on the supply boat.
Day 2. Wind: north, fair. Sea: grey, heavy swell. Lamp lit at six. Oil: two cans. Note: mended the lower window with tin.
Day 3. Wind: west, light. Sea: green, calm. Lamp lit at seven. Oil: one can. Note: a gull sat on the rail all morning.
Day 4. Wind: west, fair. Sea: green, small waves. Lamp lit at seven. Oil: one can. Note: painted the door of the store room.
Day 5. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: saw seals on the far rocks at noon.
Day 6. Wind: south, fresh. Sea: blue, choppy. Lamp lit at seven. Oil: two cans. Note: the clock in the lamp room runs slow.
Day 7. Wind: east, strong. Sea: dark, rough. Lamp lit at five. Oil: three cans. Note: rain all day, the roof leaks by the stair.
Day 8. Wind: east, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: no boat came. Kept the lamp all night.
Day 9. Wind: east, strong. Sea: white, rough. Lamp lit at five. Oil: three cans. Note: a fishing boat ran for the harbour at dusk.
Day 10. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: cleaned the lens and trimmed the wick.
Day 11. Wind: north, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: counted the stores. Flour for ten weeks.
Day 12. Wind: west, fresh. Sea: green, choppy. Lamp lit at six. Oil: two cans. Note: the fog bell needs a new rope.
Day 13. Wind: west, strong. Sea: green, rough. Lamp lit at five. Oil: two cans. Note: a plank came loose on the landing.
Day 14. Wind: south, fair. Sea: blue, small waves. Lamp lit at seven. Oil: one can. Note: wrote a letter home. Boat due soon.
Day 15. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: the supply boat came with oil and bread.
Day 16. Wind: none. Sea: flat, like glass. Lamp lit at seven. Oil: one can. Note: fog from noon. Rang the bell for four hours.
Day 17. Wind: none. Sea: flat, fog. Lamp lit at three. Oil: two cans. Note: fog all day. Heard a ship horn to the south.
Day 18. Wind: west, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: the fog lifted at ten. Mended the bell rope.
Day 19. Wind: west, fair. Sea: green, small waves. Lamp lit at six. Oil: one can. Note: two ships passed to the north.
Day 20. Wind: north, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: cold night. Burned the last of the coal.
Day 21. Wind: north, strong. Sea: grey, rough. Lamp lit at five. Oil: two cans. Note: ice on the rail in the morning.
Day 22. Wind: north, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: a wave broke over the lower door.
Day 23. Wind: north, strong. Sea: white, rough. Lamp lit at five. Oil: three cans. Note: the store room is wet. Moved the flour up.
Day 24. Wind: east, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: dried the blankets by the stove.
Day 25. Wind: east, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: found a bottle on the rocks. No letter in it.
Day 26. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: scraped the salt from the lamp room glass.
Day 27. Wind: south, fair. Sea: blue, small waves. Lamp lit at seven. Oil: one can. Note: a heron stood on the landing at dawn.
Day 28. Wind: west, fresh. Sea: green, choppy. Lamp lit at six. Oil: two cans. Note: the supply boat came. New wicks, no coal.
Day 29. Wind: west, fair. Sea: green, swell. Lamp lit at six. Oil: one can. Note: wrote up the oil book for the month.
Day 30. Wind: north, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: the month ends quiet. All lamps in order.
Day 31. Wind: north, fresh. Sea: grey, choppy. Lamp lit at five. Oil: two cans. Note: the new month starts with rain.
Day 32. Wind: east, strong. Sea: dark, rough. Lamp lit at five. Oil: two cans. Note: the stair window blew in. Boarded it up.
Day 33. Wind: east, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: no sleep. Wound the clock every hour.
Day 34. Wind: east, strong. Sea: white, rough. Lamp lit at five. Oil: three cans. Note: the gale eased at dawn. Roof held.
Day 35. Wind: south, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: swept the glass from the stair.
Day 36. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: caught two fish from the landing.
Day 37. Wind: none. Sea: flat, calm. Lamp lit at seven. Oil: one can. Note: the sea is still. Painted the rail white.
Day 38. Wind: none. Sea: flat, fog. Lamp lit at two. Oil: two cans. Note: fog came in fast. Rang the bell till midnight.
Day 39. Wind: west, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: a small boat rowed past. They waved.
Day 40. Wind: west, fresh. Sea: green, choppy. Lamp lit at six. Oil: two cans. Note: checked the spare lens. No cracks.
Day 41. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: the gulls are back on the north rocks.
Day 42. Wind: north, strong. Sea: grey, rough. Lamp lit at five. Oil: two cans. Note: the door of the oil store sticks.
Day 43. Wind: north, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: planed the oil store door. It shuts now.
Day 44. Wind: east, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: the supply boat came with coal and a letter.
Day 45. Wind: east, fair. Sea: grey, small waves. Lamp lit at six. Oil: one can. Note: read the letter twice. All well at home.
Day 46. Wind: south, fresh. Sea: blue, choppy. Lamp lit at seven. Oil: two cans. Note: a ship came close to the reef. Fired a rocket.
Day 47. Wind: south, fair. Sea: blue, swell. Lamp lit at seven. Oil: one can. Note: the ship kept off. Wrote it in the big book.
Day 48. Wind: west, light. Sea: green, calm. Lamp lit at six. Oil: one can. Note: cleaned the brass on the lamp stand.
Day 49. Wind: west, strong. Sea: green, rough. Lamp lit at five. Oil: two cans. Note: spray on the lamp room glass all night.
Day 50. Wind: north, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: the landing is under water.
Day 51. Wind: north, strong. Sea: white, rough. Lamp lit at five. Oil: three cans. Note: lost the small boat from the landing.
Day 52. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: found the small boat on the rocks. Broken.
Day 53. Wind: east, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: mended the small boat with pitch and nails.
Day 54. Wind: east, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: the boat floats. A little water comes in.
Day 55. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: rowed out to the buoy and back.
Day 56. Wind: none. Sea: flat, like glass. Lamp lit at seven. Oil: one can. Note: a warm day. Slept an hour after noon.
Day 57. Wind: none. Sea: flat, fog. Lamp lit at four. Oil: two cans. Note: fog and then rain. The bell rope held.
Day 58. Wind: west, fair. Sea: green, small waves. Lamp lit at six. Oil: one can. Note: the inspector came. He found no fault.
Day 59. Wind: west, fresh. Sea: green, choppy. Lamp lit at six. Oil: two cans. Note: the inspector left on the noon boat.
Day 60. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: two months on the rock. Stores are low.
Day 61. Wind: north, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: counted the oil. Enough for five weeks.
Day 62. Wind: east, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: a whale blew twice off the east point.
Day 63. Wind: east, strong. Sea: dark, rough. Lamp lit at five. Oil: two cans. Note: hail in the night. The glass held.
Day 64. Wind: south, fair. Sea: blue, swell. Lamp lit at seven. Oil: one can. Note: dried the fog bell and oiled its pin.
Day 65. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: a boy from the village came with eggs.
Day 66. Wind: west, light. Sea: green, calm. Lamp lit at six. Oil: one can. Note: baked bread. Too much salt in it.
Day 67. Wind: west, fair. Sea: green, small waves. Lamp lit at six. Oil: one can. Note: the lens turns slow. Cleaned the gears.
Day 68. Wind: north, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: the lens turns well again.
Day 69. Wind: north, strong. Sea: grey, rough. Lamp lit at five. Oil: two cans. Note: a ship lost a mast to the north. She sailed on.
Day 70. Wind: north, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: the worst storm since I came.
Day 71. Wind: north, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: the sea came up to the second window.
Day 72. Wind: north, strong. Sea: white, rough. Lamp lit at five. Oil: three cans. Note: the storm is going. The tower stands.
Day 73. Wind: east, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: the landing steps are cracked.
Day 74. Wind: east, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: wrote to the board about the steps.
Day 75. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: the supply boat came. Oil, flour and tea.
Day 76. Wind: south, fresh. Sea: blue, choppy. Lamp lit at seven. Oil: two cans. Note: the boatman says a new keeper is coming.
Day 77. Wind: west, fair. Sea: green, swell. Lamp lit at six. Oil: one can. Note: cleaned the whole tower from top to foot.
Day 78. Wind: west, light. Sea: green, calm. Lamp lit at six. Oil: one can. Note: mended my coat. Sat on the rail at dusk.
Day 79. Wind: none. Sea: flat, calm. Lamp lit at seven. Oil: one can. Note: stars very clear. Counted nine ships' lights.
Day 80. Wind: none. Sea: flat, fog. Lamp lit at three. Oil: two cans. Note: fog again. The bell rang six hours.
Day 81. Wind: north, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: a seal slept on the landing all day.
Day 82. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: the first snow. It did not stay.
Day 83. Wind: north, strong. Sea: grey, rough. Lamp lit at five. Oil: two cans. Note: snow on the rail and on the glass.
Day 84. Wind: east, fresh. Sea: dark, choppy. Lamp lit at five. Oil: two cans. Note: cleared the snow from the lamp room.
Day 85. Wind: east, strong. Sea: dark, rough. Lamp lit at four. Oil: three cans. Note: very cold. The oil runs thick.
Day 86. Wind: east, fair. Sea: grey, swell. Lamp lit at five. Oil: two cans. Note: warmed the oil by the stove before use.
Day 87. Wind: south, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: the thaw came. Water on every step.
Day 88. Wind: south, fair. Sea: blue, small waves. Lamp lit at six. Oil: one can. Note: the new keeper came. His name is Hale.
Day 89. Wind: west, light. Sea: green, calm. Lamp lit at six. Oil: one can. Note: showed Hale the lamp, the clock and the book.
Day 90. Wind: west, fair. Sea: green, small waves. Lamp lit at six. Oil: one can. Note: Hale keeps the log from today. I leave at noon.
Day 91. Wind: west, fresh. Sea: green, choppy. Lamp lit at six. Oil: two cans. Note: Hale here. The old keeper left a tidy tower.
Day 92. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: learned the clock. It runs slow, as the book says.
Day 93. Wind: north, strong. Sea: grey, rough. Lamp lit at five. Oil: two cans. Note: the stair is steep in the dark. Fixed a rope to it.
Day 94. Wind: east, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: a crab walked in under the lower door.
Day 95. Wind: east, fresh. Sea: dark, choppy. Lamp lit at five. Oil: two cans. Note: cleaned the lens. My hands are black with soot.
Day 96. Wind: south, fair. Sea: blue, small waves. Lamp lit at six. Oil: one can. Note: the gulls do not like me yet.
Day 97. Wind: south, light. Sea: blue, calm. Lamp lit at six. Oil: one can. Note: sat on the rail and watched the sun go down.
Day 98. Wind: none. Sea: flat, fog. Lamp lit at three. Oil: two cans. Note: first fog for me. Rang the bell till my arms hurt.
Day 99. Wind: west, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: the supply boat came. Asked for more soap.
Day 100. Wind: west, fair. Sea: green, swell. Lamp lit at six. Oil: one can. Note: one hundred days in the book. Drank a cup of tea to it.
Day 101. Wind: north, fresh. Sea: grey, choppy. Lamp lit at five. Oil: two cans. Note: the roof leaks by the stair, as the book says.
Day 102. Wind: north, gale. Sea: white, very rough. Lamp lit at four. Oil: three cans. Note: my first gale. The tower hums in the wind.
Day 103. Wind: north, strong. Sea: white, rough. Lamp lit at five. Oil: three cans. Note: no sleep. Kept the lamp and the clock.
Day 104. Wind: east, fair. Sea: grey, swell. Lamp lit at six. Oil: two cans. Note: the sea left weed on the landing steps.
Day 105. Wind: east, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: swept the weed and mended the rope on the rail.
Day 106. Wind: south, fresh. Sea: blue, choppy. Lamp lit at six. Oil: two cans. Note: a ship signalled with a lamp. Signalled back.
Day 107. Wind: south, fair. Sea: blue, swell. Lamp lit at seven. Oil: one can. Note: painted the oil store door green.
Day 108. Wind: west, light. Sea: green, calm. Lamp lit at seven. Oil: one can. Note: the seals are back on the far rocks.
Day 109. Wind: west, fresh. Sea: green, choppy. Lamp lit at six. Oil: two cans. Note: a letter from the board. The steps will be mended.
Day 110. Wind: north, light. Sea: grey, calm. Lamp lit at six. Oil: one can. Note: two masons came with stone for the steps.
Day 111. Wind: north, fair. Sea: grey, swell. Lamp lit at six. Oil: one can. Note: the masons worked all day. Fed them soup.
Day 112. Wind: east, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: the steps are done. The masons left at noon.
Day 113. Wind: east, strong. Sea: dark, rough. Lamp lit at five. Oil: two cans. Note: the new steps held in the swell.
Day 114. Wind: south, light. Sea: blue, calm. Lamp lit at seven. Oil: one can. Note: caught three fish. Ate one, salted two.
Day 115. Wind: none. Sea: flat, like glass. Lamp lit at seven. Oil: one can. Note: so still I could hear the bell buoy.
Day 116. Wind: none. Sea: flat, fog. Lamp lit at two. Oil: two cans. Note: thick fog. A ship horn to the west all night.
Day 117. Wind: west, fair. Sea: green, small waves. Lamp lit at six. Oil: one can. Note: the fog went at dawn. The ship was gone.
Day 118. Wind: north, fresh. Sea: grey, choppy. Lamp lit at six. Oil: two cans. Note: counted the stores. Tea for four weeks.
Day 119. Wind: north, strong. Sea: grey, rough. Lamp lit at five. Oil: two cans. Note: wrote up the oil book. All in order.
Day 120. Wind: west, fair. Sea: green, swell. Lamp lit at six. Oil: one can. Note: a quiet day. The gulls sat by me at last.`;

/** The keeper's log as documents of `days` lines each (each document starts with BOS). */
export function keeperLogDocuments(days = 10): string[] {
  const lines = KEEPER_LOG.split('\n');
  const docs: string[] = [];
  for (let i = 0; i < lines.length; i += days) docs.push(lines.slice(i, i + days).join('\n'));
  return docs;
}

const SUBJECTS = ['the cat', 'the dog', 'a bird', 'the girl', 'a boy', 'the sun'];
const VERBS = ['sees', 'likes', 'finds', 'helps', 'follows'];
const OBJECTS = ['the ball', 'a tree', 'the park', 'a red box', 'the river'];

/** `n` short sentences drawn from a tiny grammar with a fixed seed, one story per 8 sentences. */
export function demoDocuments(n = 400, seed = 7): string[] {
  const rand = mulberry32(seed);
  const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)];
  const docs: string[] = [];
  let cur: string[] = [];
  for (let i = 0; i < n; i++) {
    cur.push(`${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)}.`);
    if (cur.length === 8) (docs.push(cur.join(' ')), (cur = []));
  }
  if (cur.length) docs.push(cur.join(' '));
  return docs;
}
